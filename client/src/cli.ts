#!/usr/bin/env node
// `lfx-meetings <subject> '<json>'`: one request to lfx-meeting-service, the reply as pretty JSON
// on stdout, an error reply's body on stderr, and an exit code that tells the outcome apart
// (EXIT_CODES; README "Calling it"). Works against `make run`'s server with no options.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { connectMeetingClient, isSubject, type CallOptions } from "./client.js";
import { MeetingServiceError, type ErrorCode } from "./errors.js";
import { LIST_SUBJECTS, SUBJECTS, type Subject } from "./generated/schema-types.js";

/** One exit code per outcome, so that a script can branch without parsing the output. */
export const EXIT_CODES = {
  ok: 0,
  internal: 1,
  usage: 2,
  invalid_request: 3,
  unauthenticated: 4,
  forbidden: 5,
  not_found: 6,
  conflict: 7,
  unavailable: 8,
  timeout: 9,
  no_responders: 10,
  /** The NATS server could not be reached (or another failure before any reply). */
  unreachable: 11,
} as const satisfies Record<ErrorCode | "ok" | "usage" | "unreachable", number>;

const USAGE = `usage: lfx-meetings [options] <subject> ['<json request>' | -]
       (a subject may leave out its "lfx." prefix: meetings.get)

Sends one request to lfx-meeting-service over NATS and prints the reply as JSON.
The request defaults to {}; "-" reads it from stdin.

options:
  --server URL            NATS server(s), comma-separated (default: $NATS_URL or nats://127.0.0.1:4222)
  --token JWT             sent as "Authorization: Bearer JWT" (default: $LFX_TOKEN)
  --idempotency-key KEY   sent as "Idempotency-Key": a create is then safe to retry
  --request-id ID         sent as "Request-Id", logged by the service with the request
  --timeout MS            wait this long for each attempt's reply (default 5000)
  --retries N             retries of 503s (and of timeouts when safe; default 3)
  --all                   for a list subject: follow next_cursor and print every item as one array
  -h, --help              print this, with the subjects

NATS_USER/NATS_PASSWORD, when set, authenticate the connection.

exit codes: ${Object.entries(EXIT_CODES)
  .map(([name, code]) => `${code} ${name}`)
  .join(", ")}

subjects:
${SUBJECTS.map((s) => `  ${s}`).join("\n")}
`;

class UsageError extends Error {}

interface Invocation {
  subject: Subject;
  request: object;
  server: string;
  all: boolean;
  options: CallOptions;
}

function positiveInteger(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`${name} takes a whole number`);
  return n;
}

function parseInvocation(argv: string[]): Invocation | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        server: { type: "string" },
        token: { type: "string" },
        "idempotency-key": { type: "string" },
        "request-id": { type: "string" },
        timeout: { type: "string" },
        retries: { type: "string" },
        all: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const { values, positionals } = parsed;
  if (values.help === true) return "help";
  const [given, json = "{}", ...extra] = positionals;
  if (given === undefined) throw new UsageError("a subject is required");
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`);
  // `meetings.get` is short for `lfx.meetings.get`.
  const subject = given.startsWith("lfx.") ? given : `lfx.${given}`;
  if (!isSubject(subject)) throw new UsageError(`unknown subject ${JSON.stringify(subject)}`);
  const text = json === "-" ? readFileSync(0, "utf8") : json;
  let request: unknown;
  try {
    request = JSON.parse(text);
  } catch {
    throw new UsageError("the request is not valid JSON");
  }
  if (request === null || typeof request !== "object" || Array.isArray(request)) {
    throw new UsageError("the request must be a JSON object");
  }
  const all = values.all === true;
  if (all && !(LIST_SUBJECTS as readonly string[]).includes(subject)) {
    throw new UsageError(`--all needs a list subject, not ${subject}`);
  }
  const timeoutMs = positiveInteger("--timeout", values.timeout);
  const retries = positiveInteger("--retries", values.retries);
  const token = values.token ?? process.env["LFX_TOKEN"];
  const options: CallOptions = {
    ...(token === undefined || token === "" ? {} : { token }),
    ...(values["idempotency-key"] === undefined
      ? {}
      : { idempotencyKey: values["idempotency-key"] }),
    ...(values["request-id"] === undefined ? {} : { requestId: values["request-id"] }),
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    ...(retries === undefined ? {} : { retries }),
  };
  const server = values.server ?? process.env["NATS_URL"] ?? "nats://127.0.0.1:4222";
  return { subject, request, server, all, options };
}

async function run(invocation: Invocation): Promise<unknown> {
  const user = process.env["NATS_USER"];
  const pass = process.env["NATS_PASSWORD"];
  const client = await connectMeetingClient({
    servers: invocation.server.split(","),
    name: "lfx-meetings cli",
    ...(user === undefined || user === "" ? {} : { user, pass: pass ?? "" }),
  });
  try {
    const { subject, request, options } = invocation;
    if (!invocation.all) return await client.request(subject, request, options);
    const items: unknown[] = [];
    const listSubject = subject as (typeof LIST_SUBJECTS)[number];
    for await (const item of client.items(listSubject, request, options)) {
      items.push(item);
    }
    return items;
  } finally {
    await client.close();
  }
}

async function main(): Promise<number> {
  let invocation;
  try {
    invocation = parseInvocation(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`lfx-meetings: ${err.message}\n(lfx-meetings --help for usage)\n`);
    return EXIT_CODES.usage;
  }
  if (invocation === "help") {
    process.stdout.write(USAGE);
    return EXIT_CODES.ok;
  }
  try {
    process.stdout.write(`${JSON.stringify(await run(invocation), null, 2)}\n`);
    return EXIT_CODES.ok;
  } catch (err) {
    if (err instanceof MeetingServiceError) {
      process.stderr.write(`${JSON.stringify(err, null, 2)}\n`);
      return EXIT_CODES[err.code];
    }
    // Not a reply: the server could not be reached, or a bug here.
    process.stderr.write(`lfx-meetings: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT_CODES.unreachable;
  }
}

process.exitCode = await main();
