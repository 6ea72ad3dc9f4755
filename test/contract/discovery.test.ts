// docs/CONTRACT.md §2 and §3 "Errors": what `nats micro ls|info|stats|ping` sees, checked the way
// the CLI checks it (the io.nats.micro.v1 schemas in micro-schemas/), and the error envelope
// whole.
import { Ajv, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { meetingInput } from "../support/builders.js";
import {
  discover,
  endpointStats,
  SERVICE,
  type EndpointStats,
  type InfoResponse,
  type PingResponse,
  type StatsResponse,
} from "../support/micro.js";
import { useServiceHarness } from "../support/harness.js";
import { ok, request } from "../support/request.js";

/** shared/ is checked out beside the repository, here and in CI. */
// A copy of ../shared/micro-schemas (the schemas `nats micro` validates against), kept in the
// repository so that the suite runs without the shared folder; micro-schemas.test.ts checks that
// the copy still matches the shared one wherever that is present.
const MICRO_SCHEMAS = new URL("./micro-schemas/", import.meta.url);
const DRAFT_07 = "http://json-schema.org/draft-07/schema#";
const { version: PACKAGE_VERSION } = JSON.parse(
  readFileSync(new URL("../../package.json", import.meta.url), "utf8"),
) as { version: string };

/** Every `format` a schema names. */
function formatsIn(node: unknown, found = new Set<string>()): Set<string> {
  if (Array.isArray(node)) node.forEach((item) => formatsIn(item, found));
  else if (typeof node === "object" && node !== null) {
    for (const [key, value] of Object.entries(node)) {
      if (key === "format" && typeof value === "string") found.add(value);
      else formatsIn(value, found);
    }
  }
  return found;
}

/**
 * A consumer's validator: strict Ajv with ajv-formats. Formats it does not implement (custom
 * ones such as `iana-timezone`, or `idn-email`) are annotations for it, as draft-07 allows.
 */
function newAjv(schema?: unknown): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: true });
  addFormats.default(ajv);
  for (const format of formatsIn(schema)) {
    if (ajv.formats[format] === undefined) ajv.addFormat(format, true);
  }
  return ajv;
}

const microAjv = newAjv();
function microSchema(name: "ping" | "info" | "stats"): ValidateFunction {
  const path = fileURLToPath(new URL(`${name}_response.json`, MICRO_SCHEMAS));
  return microAjv.compile(JSON.parse(readFileSync(path, "utf8")) as object);
}
const validatePing = microSchema("ping");
const validateInfo = microSchema("info");
const validateStats = microSchema("stats");

function expectValid(validate: ValidateFunction, data: unknown): void {
  const valid = validate(data);
  // The errors in the failure message say which field broke the schema.
  expect(valid ? [] : validate.errors).toEqual([]);
}

const harness = useServiceHarness(1);
let id: string;

beforeAll(() => {
  id = harness.instances[0]!.running.service.info().id;
});

const REQUIRED_SUBJECTS = [
  "lfx.meetings.create",
  "lfx.meetings.get",
  "lfx.meetings.update",
  "lfx.meetings.delete",
  "lfx.meetings.list",
  "lfx.meeting-settings.get",
  "lfx.meeting-settings.update",
];

describe("$SRV.PING", () => {
  it("passes io.nats.micro.v1.ping_response and names the service and its version", async () => {
    const ping = await discover<PingResponse>(harness.client, "PING");
    expectValid(validatePing, ping);
    expect(ping).toMatchObject({
      type: "io.nats.micro.v1.ping_response",
      name: SERVICE,
      id,
      version: PACKAGE_VERSION,
    });
    // Addressed by name and id as well.
    expect((await discover<PingResponse>(harness.client, "PING", id)).id).toBe(id);
  });
});

describe("$SRV.INFO", () => {
  let info: InfoResponse;
  beforeAll(async () => {
    info = await discover<InfoResponse>(harness.client, "INFO", id);
  });

  it("passes io.nats.micro.v1.info_response with name, version and a description", () => {
    expectValid(validateInfo, info);
    expect(info.type).toBe("io.nats.micro.v1.info_response");
    expect(info.name).toBe(SERVICE);
    expect(info.id).toBe(id);
    expect(info.version).toBe(PACKAGE_VERSION);
    expect(info.description.trim()).not.toBe("");
  });

  it("lists every endpoint in the queue group, each subject once", () => {
    const subjects = info.endpoints.map((e) => e.subject);
    expect(subjects).toEqual(expect.arrayContaining(REQUIRED_SUBJECTS));
    expect(new Set(subjects).size).toBe(subjects.length);
    for (const endpoint of info.endpoints) {
      expect({ subject: endpoint.subject, queue_group: endpoint.queue_group }).toEqual({
        subject: endpoint.subject,
        queue_group: SERVICE,
      });
      expect(endpoint.subject).toMatch(/^lfx\.[a-z-]+\.[a-z-]+$/);
    }
  });

  it("publishes each request schema self-contained, as draft-07", () => {
    for (const endpoint of info.endpoints) {
      const text = endpoint.metadata?.["request_schema"];
      expect({ subject: endpoint.subject, hasSchema: typeof text }).toEqual({
        subject: endpoint.subject,
        hasSchema: "string",
      });
      const schema = JSON.parse(text ?? "") as Record<string, unknown>;
      expect(schema["$schema"]).toBe(DRAFT_07);
      expect(schema["type"]).toBe("object");
      // Bundled: no reference to another file (nor any reference at all) is left.
      expect({ subject: endpoint.subject, refs: text?.includes('"$ref"') }).toEqual({
        subject: endpoint.subject,
        refs: false,
      });
      // A consumer can compile it on its own.
      expect(() => newAjv(schema).compile(schema)).not.toThrow();
    }
  });

  // Each sample with whether the published schema, and so the endpoint, must accept it. An
  // accepted sample may still fail for other reasons (404 for an unknown uid), but never a 400.
  const unknownUid = "noSuchMeeting0000000";
  const samples: [subject: string, label: string, body: Record<string, unknown>, ok: boolean][] = [
    ["lfx.meetings.create", "a valid meeting", meetingInput(), true],
    ["lfx.meetings.create", "an unknown property", meetingInput({ colour: "red" }), false],
    ["lfx.meetings.create", "a string duration", meetingInput({ duration: "60" }), false],
    ["lfx.meetings.create", "a client-chosen uid", meetingInput({ uid: "mine" }), false],
    ["lfx.meetings.create", "missing required fields", { title: "no project" }, false],
    ["lfx.meetings.get", "a uid", { uid: unknownUid }, true],
    ["lfx.meetings.get", "an unknown property", { uid: unknownUid, extra: 1 }, false],
    ["lfx.meetings.get", "no uid", {}, false],
    ["lfx.meetings.update", "a patch", { uid: unknownUid, revision: 1, title: "x" }, true],
    ["lfx.meetings.update", "a null title", { uid: unknownUid, revision: 1, title: null }, false],
    ["lfx.meetings.update", "no revision", { uid: unknownUid, title: "x" }, false],
    ["lfx.meetings.delete", "uid and revision", { uid: unknownUid, revision: 1 }, true],
    ["lfx.meetings.delete", "no revision", { uid: unknownUid }, false],
    ["lfx.meetings.list", "the largest page", { project_uid: randomUUID(), limit: 1000 }, true],
    ["lfx.meetings.list", "limit 0", { limit: 0 }, false],
    ["lfx.meetings.list", "limit 1001", { limit: 1001 }, false],
    ["lfx.meetings.list", "a project_uid not a UUID", { project_uid: "not-a-uuid" }, false],
    ["lfx.meeting-settings.get", "a uid", { uid: unknownUid }, true],
    ["lfx.meeting-settings.get", "a numeric uid", { uid: 5 }, false],
    [
      "lfx.meeting-settings.update",
      "organizers",
      { uid: unknownUid, revision: 1, organizers: ["a"] },
      true,
    ],
    ["lfx.meeting-settings.update", "no organizers", { uid: unknownUid, revision: 1 }, false],
    [
      "lfx.meeting-settings.update",
      "duplicate organizers",
      { uid: unknownUid, revision: 1, organizers: ["a", "a"] },
      false,
    ],
  ];

  it.each(samples)(
    "%s, %s: the schema and the endpoint agree",
    async (subject, _label, body, accepted) => {
      const endpoint = info.endpoints.find((e) => e.subject === subject);
      const schema = JSON.parse(endpoint?.metadata?.["request_schema"] ?? "{}") as object;
      const validate = newAjv(schema).compile(schema);
      expect(validate(body)).toBe(accepted);
      const reply = await request(harness.client, subject, body);
      expect(reply.status === 400).toBe(!accepted);
    },
  );
});

describe("$SRV.STATS", () => {
  it("passes io.nats.micro.v1.stats_response, last_error included, for every endpoint", async () => {
    const stats = await discover<StatsResponse>(harness.client, "STATS", id);
    expectValid(validateStats, stats);
    expect(stats).toMatchObject({
      type: "io.nats.micro.v1.stats_response",
      name: SERVICE,
      id,
      version: PACKAGE_VERSION,
    });
    const info = await discover<InfoResponse>(harness.client, "INFO", id);
    expect(stats.endpoints.map((e) => e.name).sort()).toEqual(
      info.endpoints.map((e) => e.name).sort(),
    );
  });

  it("counts every request and every error reply, and shows the latest error", async () => {
    const name = "meetings-get";
    const before = await endpointStats(harness.client, id, name);
    const meeting = await ok<{ uid: string }>(
      harness.client,
      "lfx.meetings.create",
      meetingInput(),
    );

    const successes = 3;
    for (let i = 0; i < successes; i += 1) {
      await ok(harness.client, "lfx.meetings.get", { uid: meeting.uid });
    }
    const notFound = await request(harness.client, "lfx.meetings.get", { uid: "missingMeeting1" });
    const invalid = await request(harness.client, "lfx.meetings.get", { uid: "x", colour: "red" });
    expect([notFound.status, invalid.status]).toEqual([404, 400]);
    const errors = 2;

    const after = await endpointStats(harness.client, id, name);
    expect(after.num_requests - before.num_requests).toBe(successes + errors);
    expect(after.num_errors - before.num_errors).toBe(errors);
    expect(after.last_error).toEqual(expect.stringContaining(invalid.errorHeader ?? "?"));
    expect(Number.isInteger(after.processing_time)).toBe(true);
    expect(Number.isInteger(after.average_processing_time)).toBe(true);
    expect(after.processing_time).toBeGreaterThan(before.processing_time);
    expect(after.average_processing_time).toBeGreaterThan(0);
    // The mean over all requests so far (integer nanoseconds).
    expect(
      Math.abs(after.average_processing_time - after.processing_time / after.num_requests),
    ).toBeLessThanOrEqual(1);

    // The latest error replaces the previous one.
    const another = await request(harness.client, "lfx.meetings.get", { uid: "missingMeeting2" });
    expect(another.status).toBe(404);
    const latest = await endpointStats(harness.client, id, name);
    expect(latest.last_error).toEqual(expect.stringContaining("missingMeeting2"));
    expect(latest.num_errors).toBe(after.num_errors + 1);
  });

  it("counts errors of every kind on a create: not only those before the first await", async () => {
    const name = "meetings-create";
    const before: EndpointStats = await endpointStats(harness.client, id, name);
    await ok(harness.client, "lfx.meetings.create", meetingInput());
    expect((await request(harness.client, "lfx.meetings.create", "{nope")).status).toBe(400);
    const after = await endpointStats(harness.client, id, name);
    expect(after.num_requests - before.num_requests).toBe(2);
    expect(after.num_errors - before.num_errors).toBe(1);
  });
});

describe("error envelope", () => {
  it("is whole on a 404: headers and body", async () => {
    const uid = "neverCreated0001";
    const reply = await request(harness.client, "lfx.meetings.get", { uid });
    expect(reply.status).toBe(404);
    expect(reply.body).toEqual({
      error: { status: 404, code: "not_found", message: expect.any(String) as string },
    });
    const { message } = (reply.body as { error: { message: string } }).error;
    expect(message).toContain(uid);
    expect(reply.headers["Nats-Service-Error-Code"]).toBe("404");
    expect(reply.headers["Nats-Service-Error"]).toBe(message);
  });

  it("is whole on a 400, with the details", async () => {
    const reply = await request(harness.client, "lfx.meetings.get", {
      uid: "someUid",
      colour: "red",
    });
    expect(reply.status).toBe(400);
    expect(reply.body).toEqual({
      error: {
        status: 400,
        code: "invalid_request",
        message: expect.any(String) as string,
        details: [{ path: "/colour", message: expect.any(String) as string }],
      },
    });
    const { message } = (reply.body as { error: { message: string } }).error;
    expect(message).toContain("colour");
    expect(reply.headers["Nats-Service-Error-Code"]).toBe("400");
    expect(reply.headers["Nats-Service-Error"]).toBe(message);
  });
});
