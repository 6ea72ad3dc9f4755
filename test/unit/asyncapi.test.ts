// docs/asyncapi.yaml (scripts/gen-asyncapi.mjs): up to date with schemas/, a valid AsyncAPI 3.0
// document by @asyncapi/parser's own rules, and complete: every subject served, the error replies,
// the headers, the events and the platform messages.
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  buildAsyncApi,
  generateAsyncApi,
  OUTPUT_FILE,
  SCHEMA_DIR,
} from "../../scripts/gen-asyncapi.mjs";
import { SUBJECTS } from "../../src/generated/schema-types.js";

interface Doc {
  asyncapi: string;
  channels: Record<string, { address: string | null; messages: Record<string, unknown> }>;
  operations: Record<
    string,
    { action: string; reply?: { messages: { $ref: string }[] }; bindings?: unknown }
  >;
  components: {
    schemas: Record<string, { properties?: Record<string, unknown> }>;
    messages: Record<string, { headers?: { $ref: string }; payload: unknown }>;
  };
}

/** The parser's diagnostics type their severity with another package's copy of this enum. */
const ERROR_SEVERITY: number = DiagnosticSeverity.Error;

async function errorsOf(text: string): Promise<string[]> {
  const { diagnostics } = await new Parser().parse(text);
  return diagnostics
    .filter((d) => Number(d.severity) === ERROR_SEVERITY)
    .map((d) => `${d.code}: ${d.message} at ${d.path.join("/")}`);
}

let doc: Doc;
beforeAll(async () => {
  doc = (await buildAsyncApi()) as unknown as Doc;
});

it("is what npm run gen:asyncapi makes from schemas/ today", async () => {
  const fresh = await generateAsyncApi(SCHEMA_DIR);
  if (fresh !== (await readFile(OUTPUT_FILE, "utf8"))) {
    throw new Error("docs/asyncapi.yaml is stale: run npm run gen:asyncapi");
  }
}, 120_000);

it("validates with @asyncapi/parser, which does refuse a broken document", async () => {
  const text = await readFile(OUTPUT_FILE, "utf8");
  expect(await errorsOf(text)).toEqual([]);
  const broken = text.replace(
    '$ref: "#/channels/meetings-get/messages/request"',
    '$ref: "#/channels/meetings-get/messages/nothing"',
  );
  expect(broken).not.toBe(text);
  expect((await errorsOf(broken)).length).toBeGreaterThan(0);
}, 120_000);

it("has a request-reply operation for every subject served, in the queue group", () => {
  expect(doc.asyncapi).toBe("3.0.0");
  const served = Object.entries(doc.operations).filter(([, op]) => op.action === "receive");
  const addresses = new Set(served.map(([id]) => doc.channels[id]?.address));
  for (const subject of SUBJECTS) expect(addresses).toContain(subject);
  for (const subject of SUBJECTS) {
    const id = subject.replace(/^lfx\./, "").replaceAll(".", "-");
    const replies = doc.operations[id]?.reply?.messages.map((m) => m.$ref) ?? [];
    expect([subject, replies]).toEqual([
      subject,
      [expect.stringMatching(/Reply$/) as string, "#/channels/reply/messages/ErrorReply"],
    ]);
    expect(doc.operations[id]?.bindings).toEqual({
      nats: { queue: "lfx-meeting-service", bindingVersion: "0.1.0" },
    });
  }
  expect(doc.operations["meetings-get"]?.reply?.messages[0]?.$ref).toBe(
    "#/channels/reply/messages/MeetingReply",
  );
  expect(doc.operations["meetings-list"]?.reply?.messages[0]?.$ref).toBe(
    "#/channels/reply/messages/MeetingPageReply",
  );
  expect(doc.operations["rsvps-delete"]?.reply?.messages[0]?.$ref).toBe(
    "#/channels/reply/messages/DeletedReply",
  );
});

it("describes every error status of docs/CONTRACT.md §3 and the request headers", () => {
  const error = doc.components.schemas["ErrorReply"]?.properties?.["error"] as {
    properties: { status: { enum: number[] }; code: { enum: string[] } };
  };
  expect(error.properties.status.enum).toEqual([400, 401, 403, 404, 409, 500, 503]);
  expect(error.properties.code.enum).toEqual(
    expect.arrayContaining(["unauthenticated", "forbidden", "unavailable"]),
  );
  const create = doc.components.messages["MeetingsCreateRequest"];
  const get = doc.components.messages["MeetingsGetRequest"];
  expect(create?.headers?.$ref).toBe("#/components/schemas/CreateRequestHeaders");
  expect(get?.headers?.$ref).toBe("#/components/schemas/RequestHeaders");
  const headers = doc.components.schemas["CreateRequestHeaders"]?.properties ?? {};
  expect(Object.keys(headers)).toEqual(
    expect.arrayContaining(["Authorization", "Idempotency-Key", "Request-Id"]),
  );
});

it("has the change events and the platform messages sent, answered and followed", () => {
  const addresses = Object.values(doc.channels).map((c) => c.address);
  expect(addresses).toEqual(
    expect.arrayContaining([
      "lfx.events.meetings.{action}",
      "lfx.events.registrants.{action}",
      "lfx.index.{object_type}",
      "lfx.fga-sync.{operation}",
      "lfx.access_check.request",
      "lfx.meetings-api.get_title",
      "lfx.committee-api.committee_member.{event}",
      "lfx.projects-api.project_settings.updated",
    ]),
  );
  // Occurrences live in their meeting's record: their changes are the meeting's events.
  expect(addresses).not.toContain("lfx.events.occurrences.{action}");
});

it("picks up a new endpoint's schema when regenerated", async () => {
  const dir = await mkdtemp(join(tmpdir(), "schemas-"));
  try {
    await cp(SCHEMA_DIR, dir, { recursive: true });
    const get = JSON.parse(await readFile(join(dir, "registrants.get.json"), "utf8")) as object;
    await writeFile(
      join(dir, "registrants.resend.json"),
      JSON.stringify({ ...get, title: "RegistrantsResendRequest" }),
    );
    const grown = (await buildAsyncApi(dir)) as unknown as Doc;
    expect(grown.channels["registrants-resend"]?.address).toBe("lfx.registrants.resend");
    expect(grown.operations["registrants-resend"]?.reply?.messages[0]?.$ref).toBe(
      "#/channels/reply/messages/RegistrantReply",
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
