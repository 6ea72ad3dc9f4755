// Bad input (docs/CONTRACT.md §3: "a request never goes unanswered because of its content"). Every
// endpoint the service announces in `$SRV.INFO` (so new ones are covered without editing this
// file) gets arbitrary JSON values, arbitrary objects made of its schema's own property names (so
// validation goes deep and some requests reach the handlers), and arbitrary bytes. Each must be
// answered, with 200 or a 400/404/409 in the error envelope: never a timeout, a 500 or a 503.
// Then payloads at and above the server's max payload, and replies that would exceed it.
import { randomUUID } from "node:crypto";
import { Socket } from "node:net";
import fc from "fast-check";
import { meetingInput, uniqueEmail } from "../support/builders.js";
import { useServiceHarness } from "../support/harness.js";
import { discover, type InfoResponse } from "../support/micro.js";
import { ok, request, type Reply } from "../support/request.js";

const CODE_BY_STATUS: Readonly<Record<number, string>> = {
  400: "invalid_request",
  404: "not_found",
  409: "conflict",
};

// Per endpoint and kind of input; 48 endpoints x 3 kinds, run side by side, take ~15 s on 2 cores.
const RUNS = { json: 30, objects: 150, bytes: 30 };

const harness = useServiceHarness(1);
let endpoints: { subject: string; schema: Schema }[];
/**
 * Uids and values of real entities by the field (or resource) they belong in, so that generated
 * requests also find entities and get past a 404.
 */
const known = new Map<string, string[]>();

// Runs after the harness has started the server, the instance and the client.
beforeAll(async () => {
  const info = await discover<InfoResponse>(harness.client, "INFO");
  endpoints = info.endpoints.map((e) => ({
    subject: e.subject,
    schema: JSON.parse(e.metadata?.["request_schema"] ?? "{}") as Schema,
  }));
  // Three of each, so that a generated delete that happens to succeed leaves others to work on.
  for (let i = 0; i < 3; i += 1) {
    for (const [field, value] of Object.entries(await someEntities())) {
      known.set(field, [...(known.get(field) ?? []), value]);
    }
  }
});

/** A meeting series with a registrant, an RSVP, a past meeting, a participant and artifacts. */
async function someEntities(): Promise<Record<string, string>> {
  const meeting = await ok<{
    uid: string;
    project_uid: string;
    occurrences: { occurrence_id: string }[];
  }>(
    harness.client,
    "lfx.meetings.create",
    meetingInput({ recurrence: { type: 2, repeat_interval: 1 } }),
  );
  const occurrenceId = meeting.occurrences[0]?.occurrence_id ?? "0";
  const email = uniqueEmail("fuzz");
  const registrant = await ok<{ uid: string }>(harness.client, "lfx.registrants.create", {
    meeting_uid: meeting.uid,
    email,
  });
  const rsvp = await ok<{ uid: string }>(harness.client, "lfx.rsvps.create", {
    meeting_uid: meeting.uid,
    registrant_uid: registrant.uid,
    response: "accepted",
    scope: "all",
  });
  const past = await ok<{ uid: string }>(harness.client, "lfx.past-meetings.start", {
    meeting_uid: meeting.uid,
    occurrence_id: occurrenceId,
    started_at: new Date().toISOString(),
  });
  const participant = await ok<{ uid: string }>(harness.client, "lfx.participants.join", {
    past_meeting_uid: past.uid,
    email,
    joined_at: new Date().toISOString(),
  });
  const [recording, transcript, summary] = await Promise.all(
    ["recordings", "transcripts", "summaries"].map((resource) =>
      ok<{ uid: string }>(harness.client, `lfx.${resource}.create`, { past_meeting_uid: past.uid }),
    ),
  );
  return {
    meetings: meeting.uid,
    "meeting-settings": meeting.uid,
    occurrences: meeting.uid,
    meeting_uid: meeting.uid,
    project_uid: meeting.project_uid,
    occurrence_id: occurrenceId,
    email,
    registrants: registrant.uid,
    registrant_uid: registrant.uid,
    rsvps: rsvp.uid,
    "past-meetings": past.uid,
    past_meeting_uid: past.uid,
    participants: participant.uid,
    recordings: recording?.uid ?? "",
    transcripts: transcript?.uid ?? "",
    summaries: summary?.uid ?? "",
  };
}

function knownValues(): string[] {
  return [...known.values()].flat();
}

/** Every property name anywhere in a (bundled) schema. */
function propertyNames(schema: unknown, names = new Set<string>()): Set<string> {
  if (Array.isArray(schema)) {
    for (const item of schema) propertyNames(item, names);
  } else if (schema !== null && typeof schema === "object") {
    for (const [key, value] of Object.entries(schema as Record<string, unknown>)) {
      if (key === "properties" && value !== null && typeof value === "object") {
        for (const name of Object.keys(value)) names.add(name);
      }
      propertyNames(value, names);
    }
  }
  return names;
}

const HOSTILE = [
  "",
  " ",
  "*",
  ">",
  ".",
  "..",
  "a.b",
  "a/b",
  "$KV.meetings.x",
  "index/meeting/x",
  "\u0000",
  "\ud800",
  "💥",
  "x".repeat(3000),
  "__proto__",
  "constructor",
];
const PLAUSIBLE = [
  "2030-01-15T15:00:00Z",
  "2020-01-01T00:00:00+02:00",
  "America/New_York",
  "person@example.org",
  "https://example.org/a",
  "Zoom",
  "committee",
  "direct",
  "accepted",
  "declined",
  "all",
  "single",
  "this_and_following",
  "1,3,5",
  0,
  1,
  2,
  3,
  -1,
  60,
  1000,
  1001,
  2 ** 53,
  1.5,
  true,
  false,
  null,
];

function valueArbitrary(names: readonly string[]): fc.Arbitrary<unknown> {
  const leaf = fc.oneof(
    fc.constantFrom(...HOSTILE, ...PLAUSIBLE, ...knownValues()),
    fc.constantFrom(randomUUID(), randomUUID()),
    fc.jsonValue({ maxDepth: 1 }),
    fc.string(),
    fc.integer(),
  );
  const { value } = fc.letrec<{ value: unknown }>((tie) => ({
    value: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      leaf,
      fc.array(tie("value"), { maxLength: 3 }),
      fc.dictionary(fc.constantFrom(...names), tie("value"), { maxKeys: 4 }),
    ),
  }));
  return value;
}

type Schema = Record<string, unknown>;

/**
 * Values that a (bundled) request schema roughly accepts: its enums, formats, patterns and bounds,
 * with the uids, emails and occurrence ids of real entities mixed in so that requests get past
 * validation and reach the handlers. Conditionals (`if`, `anyOf`, `not`) are ignored, so some
 * values are still refused, which is wanted too.
 */
function fromSchema(
  schema: Schema,
  name: string,
  resource: string,
  depth: number,
): fc.Arbitrary<unknown> {
  if (Array.isArray(schema["enum"])) return fc.constantFrom(...(schema["enum"] as unknown[]));
  if ("const" in schema) return fc.constant(schema["const"]);
  const types = (Array.isArray(schema["type"]) ? schema["type"] : [schema["type"]]) as unknown[];
  const options = types.flatMap((type) => {
    const arbitrary = ofType(type, schema, name, resource, depth);
    return arbitrary === undefined ? [] : [arbitrary];
  });
  return options.length > 0 ? fc.oneof(...options) : fc.jsonValue({ maxDepth: 1 });
}

function ofType(
  type: unknown,
  schema: Schema,
  name: string,
  resource: string,
  depth: number,
): fc.Arbitrary<unknown> | undefined {
  // A top-level `uid` is one of the endpoint's own resource; other ids are named after theirs.
  const own = known.get(name === "uid" && depth === 1 ? resource : name) ?? [];
  switch (type) {
    case "string":
      switch (schema["format"]) {
        case "date-time":
          return fc.oneof(
            fc.constantFrom(
              new Date().toISOString(),
              "2030-01-15T15:00:00Z",
              "2030-01-15T17:00:00+02:00",
            ),
            fc
              .date({
                min: new Date("2000-01-01"),
                max: new Date("2100-01-01"),
                noInvalidDate: true,
              })
              .map((d) => d.toISOString()),
          );
        case "uuid":
          return fc.constantFrom(...own, randomUUID());
        case "email":
        case "idn-email":
          return fc.constantFrom(...(known.get("email") ?? []), "Some.One@Example.ORG");
        case "uri":
          return fc.constant("https://example.org/x");
        case "iana-timezone":
          return fc.constantFrom("America/New_York", "Europe/Berlin", "UTC");
        case undefined:
          break;
        default:
          return fc.string({ maxLength: 10 });
      }
      if (typeof schema["pattern"] === "string") {
        const pattern = new RegExp(schema["pattern"]);
        const others = knownValues().filter((v) => pattern.test(v));
        return fc.oneof(
          { weight: 4, arbitrary: own.length > 0 ? fc.constantFrom(...own) : fc.constant("x") },
          { weight: 1, arbitrary: fc.constantFrom("x", ...others) },
          { weight: 1, arbitrary: fc.stringMatching(pattern) },
        );
      }
      return fc.string({
        minLength: Number(schema["minLength"] ?? 0),
        maxLength: Math.min(Number(schema["maxLength"] ?? 20), 20),
      });
    case "integer":
      if (name === "revision") return fc.integer({ min: 1, max: 30 });
      return fc.integer({
        min: Math.max(Number(schema["minimum"] ?? -100), -1e6),
        max: Math.min(Number(schema["maximum"] ?? 1000), 1e6),
      });
    case "number":
      return fc.double({ noNaN: true, noDefaultInfinity: true });
    case "boolean":
      return fc.boolean();
    case "null":
      return fc.constant(null);
    case "object": {
      const properties = (schema["properties"] ?? {}) as Record<string, Schema>;
      if (depth > 3) return fc.constant({});
      const names = Object.keys(properties);
      const required = ((schema["required"] ?? []) as string[]).filter((n) => names.includes(n));
      const model = Object.fromEntries(
        names.map((n) => [n, fromSchema(properties[n] ?? {}, n, resource, depth + 1)]),
      );
      return fc.record(model, { requiredKeys: required });
    }
    case "array":
      return fc.array(fromSchema((schema["items"] ?? {}) as Schema, name, resource, depth + 1), {
        maxLength: Math.min(Number(schema["maxItems"] ?? 3), 3),
      });
    default:
      return undefined;
  }
}

/**
 * Requests for an endpoint: ones its schema roughly accepts; the same with one field (its own, a
 * nested one's, or an unknown one) set to an arbitrary or hostile value; and arbitrary objects
 * over every property name its schema knows.
 */
function requestArbitrary(subject: string, schema: Schema): fc.Arbitrary<unknown> {
  const resource = subject.split(".")[1] ?? "";
  const plausible = fromSchema(schema, "", resource, 0) as fc.Arbitrary<Record<string, unknown>>;
  const names = [...propertyNames(schema), "unknown_field"];
  const value = valueArbitrary(names);
  return fc.oneof(
    { weight: 3, arbitrary: plausible },
    {
      weight: 3,
      arbitrary: fc
        .tuple(plausible, fc.constantFrom(...names), value)
        .map(([body, field, v]) => ({ ...body, [field]: v })),
    },
    { weight: 1, arbitrary: fc.dictionary(fc.constantFrom(...names), value, { maxKeys: 6 }) },
  );
}

const IDEMPOTENCY_KEY = fc.oneof(
  fc.constant(undefined),
  fc.stringMatching(/^[\x20-\x7e]{0,140}$/),
  fc.constantFrom("k", "x".repeat(128), "x".repeat(129), "key with space"),
);

/** Fails (with the reply in the message) unless the reply is a success or a well-formed 4xx. */
function checkReply(subject: string, reply: Reply): void {
  const where = `${subject} replied ${reply.status}: ${JSON.stringify(reply.body)}`;
  if (reply.status === 200) {
    if (reply.body === null || typeof reply.body !== "object" || Array.isArray(reply.body)) {
      throw new Error(`${where}: a success must be a JSON object`);
    }
    return;
  }
  const code = CODE_BY_STATUS[reply.status];
  if (code === undefined) throw new Error(`${where}: not 200, 400, 404 or 409`);
  const error = (reply.body as { error?: Record<string, unknown> } | undefined)?.error;
  const { status, message, details, ...rest } = error ?? {};
  const detailsOk =
    details === undefined ||
    (Array.isArray(details) &&
      details.every(
        (d: { path?: unknown; message?: unknown }) =>
          typeof d.path === "string" && typeof d.message === "string",
      ));
  const ok =
    status === reply.status &&
    rest["code"] === code &&
    Object.keys(rest).length === 1 &&
    typeof message === "string" &&
    message === reply.errorHeader &&
    detailsOk;
  if (!ok) throw new Error(`${where}: not the error envelope of docs/CONTRACT.md §3`);
}

async function send(subject: string, body: unknown, idempotencyKey?: string): Promise<void> {
  const options =
    idempotencyKey === undefined ? {} : { headers: { "Idempotency-Key": idempotencyKey } };
  checkReply(subject, await request(harness.client, subject, body, options));
}

/** Runs `property` for every endpoint at once (one fast-check run per endpoint). */
async function forEveryEndpoint<Ts>(
  property: (endpoint: (typeof endpoints)[number]) => fc.IAsyncProperty<Ts>,
  numRuns: number,
): Promise<void> {
  expect(endpoints.length).toBeGreaterThan(40);
  await Promise.all(
    endpoints.map((endpoint) => fc.assert(property(endpoint), { numRuns, endOnFailure: true })),
  );
}

describe("every endpoint", () => {
  it("answers arbitrary JSON values", async () => {
    await forEveryEndpoint(
      ({ subject }) =>
        fc.asyncProperty(fc.jsonValue(), (value) => send(subject, JSON.stringify(value))),
      RUNS.json,
    );
  });

  it("answers objects made from its schema, valid or nearly so", async () => {
    await forEveryEndpoint(
      ({ subject, schema }) =>
        fc.asyncProperty(requestArbitrary(subject, schema), IDEMPOTENCY_KEY, (body, key) =>
          send(subject, body, subject.endsWith(".create") ? key : undefined),
        ),
      RUNS.objects,
    );
    // 150 requests per endpoint, 48 endpoints: ~18 s alone on 2 cores, over 30 s when the machine
    // runs other suites too. Each request has its own reply timeout; this bounds only the whole.
  }, 120_000);

  it("answers arbitrary bytes", async () => {
    await forEveryEndpoint(
      ({ subject }) =>
        fc.asyncProperty(
          fc.oneof(
            fc.uint8Array({ maxLength: 256 }),
            fc.string({ unit: "binary" }).map((s) => new TextEncoder().encode(s)),
          ),
          (bytes) => send(subject, bytes),
        ),
      RUNS.bytes,
    );
  });

  it("answers the awkward ones: empty, not UTF-8, not an object, duplicate keys, deep nesting", async () => {
    const bodies: (string | Uint8Array)[] = [
      "",
      " ",
      "null",
      "[]",
      '"{}"',
      "{",
      "{}}",
      new Uint8Array([0x7b, 0xff, 0x7d]),
      new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d]),
      '{"uid":"a","uid":"b"}',
      '{"__proto__":{"uid":"x"}}',
      '{"constructor":{"prototype":{}}}',
      `${"[".repeat(5000)}${"]".repeat(5000)}`,
      `{"a":${"{".repeat(2000)}${"}".repeat(2000)}}`,
      '{"limit":1e999}',
      '{"limit":-0}',
      '{"uid":"\\ud800"}',
    ];
    for (const { subject } of endpoints) {
      for (const body of bodies) await send(subject, body);
    }
  });
});

describe("payloads near and above the max payload", () => {
  const maxPayload = () => harness.client.info?.max_payload ?? 0;

  /** A meetings.create body of exactly `size` bytes, its description `size` minus a little. */
  function paddedMeeting(size: number): string {
    const base = JSON.stringify(meetingInput({ description: "" }));
    return base.replace('"description":""', `"description":"${"d".repeat(size - base.length)}"`);
  }

  it("answers a body of exactly the max payload with a 400 naming the field too long", async () => {
    for (const size of [maxPayload() - 1, maxPayload()]) {
      const body = paddedMeeting(size);
      expect(body.length).toBe(size);
      const reply = await request(harness.client, "lfx.meetings.create", body);
      checkReply("lfx.meetings.create", reply);
      expect(reply.body).toEqual({
        error: expect.objectContaining({
          status: 400,
          details: [{ path: "/description", message: expect.stringMatching(/2000/) as string }],
        }) as object,
      });
    }
  });

  it("cannot send a body over the max payload: the client library refuses it", async () => {
    await expect(
      request(harness.client, "lfx.meetings.create", paddedMeeting(maxPayload() + 1)),
    ).rejects.toThrow(/max_payload/);
  });

  it("survives a client that sends more than the max payload anyway", async () => {
    // The server refuses it and closes that client's connection; the service never sees it.
    const size = maxPayload() + 1;
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = new Socket();
      let text = "";
      socket.on("data", (chunk: Buffer) => {
        text += chunk.toString("utf8");
        if (text.includes("-ERR")) {
          socket.destroy();
          resolve(text);
        }
      });
      socket.on("error", reject);
      socket.on("close", () => resolve(text));
      socket.connect(harness.server.port, "127.0.0.1", () => {
        // The header announces the size: the server refuses before the payload is sent.
        socket.write(
          `CONNECT {"verbose":false,"pedantic":false}\r\nPUB lfx.meetings.create _INBOX.raw ${size}\r\n`,
        );
      });
    });
    expect(answer).toMatch(/Maximum Payload/i);
    expect((await request(harness.client, "lfx.meetings.get", { uid: "gone" })).status).toBe(404);
  });

  it("answers a valid request whose record would be too large to store with a 400", async () => {
    const { uid: meetingUid } = await ok<{ uid: string }>(
      harness.client,
      "lfx.meetings.create",
      meetingInput(),
    );
    const past = await ok<{ uid: string }>(harness.client, "lfx.past-meetings.create", {
      meeting_uid: meetingUid,
      scheduled_start_time: "2030-01-15T15:00:00Z",
      scheduled_end_time: "2030-01-15T16:00:00Z",
    });
    // Recording files of ~4 KB each up to a few bytes under the max payload: every field valid.
    const url = (fill: number) => `https://example.org/${"p".repeat(fill)}`;
    const files: { id: string; play_url: string; download_url?: string }[] = [];
    const body = { past_meeting_uid: past.uid, recording_files: files };
    while (JSON.stringify(body).length < maxPayload() - 8000) {
      files.push({ id: "f", play_url: url(2000), download_url: url(2000) });
    }
    while (JSON.stringify(body).length < maxPayload() - 2000) {
      files.push({ id: "g", play_url: url(1000) });
    }
    const last = { id: "h", play_url: url(0), download_url: url(0) };
    files.push(last);
    last.download_url = url(maxPayload() - 10 - JSON.stringify(body).length);
    expect(maxPayload() - JSON.stringify(body).length).toBe(10);

    const reply = await request(harness.client, "lfx.recordings.create", body);
    checkReply("lfx.recordings.create", reply);
    expect(reply.status).toBe(400);
    expect(reply.errorHeader).toMatch(/too large/);
    const list = await ok<{ items: unknown[] }>(harness.client, "lfx.recordings.list", {
      past_meeting_uid: past.uid,
    });
    expect(list.items).toEqual([]);
  });

  it("refuses (400) a meeting whose reply with its occurrences could not be sent", async () => {
    // Committees' voting statuses make the meeting large; 50 occurrences with a long title and
    // description each would push its reply over the max payload.
    const statuses = Array.from({ length: 100 }, (_, i) => `${i}`.padEnd(256, "s"));
    const committees = Array.from({ length: 36 }, () => ({
      uid: randomUUID(),
      allowed_voting_statuses: statuses,
    }));
    const big = {
      title: "t".repeat(256),
      description: "d".repeat(2000),
      committees,
    };
    const once = await request<{ uid: string; revision: number }>(
      harness.client,
      "lfx.meetings.create",
      meetingInput(big),
    );
    expect(once.status).toBe(200);
    const series = await request(
      harness.client,
      "lfx.meetings.create",
      meetingInput({ ...big, recurrence: { type: 1, repeat_interval: 1 } }),
    );
    checkReply("lfx.meetings.create", series);
    expect(series.status).toBe(400);
    expect(series.errorHeader).toMatch(/too large/);
    // The same by an update, which leaves the meeting as it was.
    const update = await request(harness.client, "lfx.meetings.update", {
      uid: once.body.uid,
      revision: once.body.revision,
      recurrence: { type: 1, repeat_interval: 1 },
    });
    expect(update.status).toBe(400);
    const after = await ok<{ revision: number }>(harness.client, "lfx.meetings.get", {
      uid: once.body.uid,
    });
    expect(after.revision).toBe(once.body.revision);
  });

  it("cuts a page of large meetings to fit the max payload, and pages through all of them", async () => {
    // 45 meetings of ~25 KB (long title, description and committees): over 1 MB in all.
    const projectUid = randomUUID();
    const statuses = Array.from({ length: 10 }, (_, i) => `${i}`.padEnd(256, "s"));
    const committees = Array.from({ length: 10 }, () => ({
      uid: randomUUID(),
      allowed_voting_statuses: statuses,
    }));
    const created = await Promise.all(
      Array.from({ length: 45 }, () =>
        ok<{ uid: string }>(
          harness.client,
          "lfx.meetings.create",
          meetingInput({
            project_uid: projectUid,
            title: "t".repeat(256),
            description: "d".repeat(2000),
            committees,
          }),
        ),
      ),
    );
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const msg = await harness.client.request(
        "lfx.meetings.list",
        JSON.stringify({ project_uid: projectUid, limit: 1000, ...(cursor ? { cursor } : {}) }),
        { timeout: 5000 },
      );
      expect(msg.data.length).toBeLessThanOrEqual(maxPayload());
      const page = msg.json<{ items: { uid: string }[]; next_cursor: string | null }>();
      expect(page.items.length).toBeGreaterThan(0);
      seen.push(...page.items.map((item) => item.uid));
      cursor = page.next_cursor ?? undefined;
      pages += 1;
    } while (cursor !== undefined);
    expect(pages).toBeGreaterThan(1);
    expect(seen.sort()).toEqual(created.map((m) => m.uid).sort());
  });

  it("cuts a page of occurrences to fit the max payload", async () => {
    const meeting = await ok<{ uid: string }>(
      harness.client,
      "lfx.meetings.create",
      meetingInput({
        title: "t".repeat(256),
        description: "d".repeat(2000),
        recurrence: { type: 1, repeat_interval: 1 },
      }),
    );
    const msg = await harness.client.request(
      "lfx.occurrences.list",
      JSON.stringify({ meeting_uid: meeting.uid, limit: 1000 }),
      { timeout: 5000 },
    );
    expect(msg.data.length).toBeLessThanOrEqual(maxPayload());
    const page = msg.json<{ items: { occurrence_id: string }[]; next_cursor: string | null }>();
    expect(page.items.length).toBeGreaterThan(100);
    expect(page.items.length).toBeLessThan(1000);
    expect(page.next_cursor).not.toBeNull();
    const next = await ok<{ items: { occurrence_id: string }[] }>(
      harness.client,
      "lfx.occurrences.list",
      {
        meeting_uid: meeting.uid,
        limit: 1000,
        cursor: page.next_cursor,
      },
    );
    expect(Number(next.items[0]?.occurrence_id)).toBeGreaterThan(
      Number(page.items.at(-1)?.occurrence_id),
    );
  });
});
