// `npm run check-consistency [-- --repair] [--grace-seconds N] [--help]` (docs/CONTRACT.md §1):
// reports every cross-bucket inconsistency, one line each, and exits 1 if it found any; with
// --repair it repairs them and exits 0. Keys written in the last N seconds are not judged: they may
// belong to requests in flight. The default is the request deadline (config.ts), the longest a
// request's write can be in flight, and the check first waits that long, so that everything written
// before it was started is judged: an operator who runs it right after an incident sees every
// inconsistency. Connects with the service's configuration (NATS_URL, credentials). On a terminal
// it shows on stderr the bucket being walked and, while it counts the children of a page of
// meetings or past meetings (consistency.ts), which page.
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { loadConfig, natsIdentity } from "../config.js";
import { checkConsistency } from "./consistency.js";

/**
 * Creating a key listing's consumer walks the whole bucket on nats-server 2.9
 * (docs/MEASUREMENTS.md "Wildcard key listings on nats-server 2.9").
 */
const LISTING_TIMEOUT_MS = 60_000;

const USAGE = `usage: npm run check-consistency [-- [--repair] [--grace-seconds N]]

Reports every cross-bucket inconsistency of lfx-meeting-service, one line each on stdout, then a
summary line; exits 0 when there is none, 1 when there are, 2 on a usage error or a failure.

  --repair            repair what it finds (orphan index keys, counters, dangling links); exit 0
  --grace-seconds N   leave keys written in the last N seconds alone; by default the request
                      deadline (2 x KV_TIMEOUT_MS + 500 ms), which the check first waits out, so
                      that everything written before it started is judged
  -h, --help          print this and exit

Connects like the service: NATS_URL, NATS_USER/NATS_PASSWORD or NATS_CREDS.
`;

/** A mistyped flag must not start a full walk of the buckets, let alone a repair. */
class UsageError extends Error {}

interface Options {
  repair: boolean;
  /** Undefined: the request deadline. */
  graceSeconds: number | undefined;
}

function parseOptions(argv: string[]): Options | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        repair: { type: "boolean" },
        "grace-seconds": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const { values } = parsed;
  if (values.help === true) return "help";
  const grace = values["grace-seconds"];
  const graceSeconds = grace === undefined ? undefined : Number(grace);
  if (
    grace?.trim() === "" ||
    (graceSeconds !== undefined && (!Number.isFinite(graceSeconds) || graceSeconds < 0))
  ) {
    throw new UsageError("--grace-seconds takes a number of seconds");
  }
  return { repair: values.repair === true, graceSeconds };
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  if (options === "help") {
    process.stdout.write(USAGE);
    return 0;
  }
  const { repair, graceSeconds } = options;
  const config = loadConfig();
  const graceMs = graceSeconds === undefined ? config.requestDeadlineMs : graceSeconds * 1000;
  const nc = await connect({
    servers: config.natsServers,
    name: "lfx-meeting-service check-consistency",
    ...natsIdentity(config),
  });
  try {
    await sleep(graceMs);
    const onTerminal = process.stderr.isTTY;
    const findings = await checkConsistency(jetstream(nc, { timeout: config.kvTimeoutMs }), {
      repair,
      now: () => new Date(),
      graceMs,
      listingJs: jetstream(nc, { timeout: LISTING_TIMEOUT_MS }),
      onFinding: (f) => {
        if (onTerminal) process.stderr.write("\r\x1b[K");
        process.stdout.write(
          `${f.kind} ${f.bucket} ${f.subject}: ${f.message}${repair ? " (repaired)" : ""}\n`,
        );
      },
      onProgress: ({ bucket, keys, pass }) => {
        if (!onTerminal) return;
        process.stderr.write(
          pass === undefined
            ? `\r\x1b[K${bucket}: ${keys} keys checked`
            : `\r\x1b[K${pass.parents}, page ${pass.page}: ${keys} keys of ${bucket} counted`,
        );
      },
    });
    if (onTerminal) process.stderr.write("\r\x1b[K");
    // The summary belongs with the findings: a script reading stdout sees the whole report.
    process.stdout.write(
      `${findings} inconsistenc${findings === 1 ? "y" : "ies"} found${repair && findings > 0 ? " and repaired" : ""}\n`,
    );
    return findings > 0 && !repair ? 1 : 0;
  } finally {
    await nc.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`check-consistency: ${err.message}\n\n${USAGE}`);
      process.exit(2);
    }
    process.stderr.write(
      `check-consistency failed: ${err instanceof Error ? err.message : String(err)}\n`,
    );
    process.exit(2);
  },
);
