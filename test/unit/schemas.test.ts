// The request and entity schemas of meetings and meeting settings (docs/CONTRACT.md §3, §5), as the
// service loads and enforces them: bundling, every field rule, and the shape of the details.

import fc from "fast-check";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ErrorDetail } from "../../src/errors.js";
import {
  loadEntitySchemas,
  loadRequestSchemas,
  schemaFileForSubject,
  SCHEMA_DIR,
  subjectForSchemaFile,
} from "../../src/rpc/schemas.js";
import type { CompiledSchema } from "../../src/rpc/schemas.js";

let requests: Map<string, CompiledSchema>;
let entities: Map<string, CompiledSchema>;

beforeAll(async () => {
  [requests, entities] = await Promise.all([loadRequestSchemas(), loadEntitySchemas()]);
});

function request(subject: string): CompiledSchema {
  const schema = requests.get(subject);
  if (schema === undefined) throw new Error(`no schema for ${subject}`);
  return schema;
}

function entity(name: string): CompiledSchema {
  const schema = entities.get(name);
  if (schema === undefined) throw new Error(`no entity schema ${name}`);
  return schema;
}

const create = (data: unknown): ErrorDetail[] => request("lfx.meetings.create").validate(data);
const update = (data: unknown): ErrorDetail[] => request("lfx.meetings.update").validate(data);

const PROJECT_UID = "0f8b3c1e-8f7d-4a3b-9c2d-1e2f3a4b5c6d";
const COMMITTEE_UID = "7d444840-9dc0-11d1-b245-5ffdce74fad2";

function validCreate(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    project_uid: PROJECT_UID,
    title: "TSC weekly",
    start_time: "2030-01-07T15:00:00Z",
    duration: 60,
    timezone: "Europe/Berlin",
    ...overrides,
  };
}

function withRecurrence(recurrence: Record<string, unknown>): Record<string, unknown> {
  return validCreate({ recurrence: { type: 2, repeat_interval: 1, ...recurrence } });
}

const TIMESTAMPS = { created_at: "2030-01-01T00:00:00Z", updated_at: "2030-01-01T00:00:00Z" };

describe("loading", () => {
  it("finds the schemas/ directory of the repository", async () => {
    const text = await readFile(join(SCHEMA_DIR, "meetings.create.json"), "utf8");
    expect(JSON.parse(text)).toHaveProperty("title", "MeetingsCreateRequest");
  });

  it("maps file names to subjects and back", () => {
    expect(subjectForSchemaFile("meetings.create.json")).toBe("lfx.meetings.create");
    expect(subjectForSchemaFile("meeting-settings.update.json")).toBe(
      "lfx.meeting-settings.update",
    );
    expect(schemaFileForSubject("lfx.meeting-settings.get")).toBe("meeting-settings.get.json");
    expect(() => subjectForSchemaFile("README.md")).toThrow("<resource>.<action>.json");
  });

  it("has a request schema for every meeting and settings subject, keyed by subject", () => {
    expect([...requests.keys()].sort()).toEqual(
      expect.arrayContaining([
        "lfx.meeting-settings.get",
        "lfx.meeting-settings.update",
        "lfx.meetings.create",
        "lfx.meetings.delete",
        "lfx.meetings.get",
        "lfx.meetings.list",
        "lfx.meetings.update",
      ]),
    );
    expect(request("lfx.meetings.create")).toMatchObject({
      id: "https://schemas.lfx.dev/meeting-service/meetings.create.json",
      title: "MeetingsCreateRequest",
    });
  });

  it("has the entity schemas, keyed by file base name", () => {
    expect([...entities.keys()]).toEqual(
      expect.arrayContaining(["meeting", "meeting-settings", "occurrence", "deleted"]),
    );
    expect(entity("meeting")).toMatchObject({
      id: "https://schemas.lfx.dev/meeting-service/entities/meeting.json",
      title: "Meeting",
    });
  });

  it.each(["requests", "entities"] as const)(
    "bundles each of the %s self-contained, closed, with $schema, $id and title",
    (kind) => {
      const all = kind === "requests" ? requests : entities;
      for (const schema of all.values()) {
        const text = JSON.stringify(schema.bundled);
        expect(text).not.toContain(".json#");
        expect(text).not.toContain('"$ref"');
        expect(schema.bundled).toMatchObject({
          $schema: "http://json-schema.org/draft-07/schema#",
          $id: schema.id,
          title: schema.title,
          type: "object",
          additionalProperties: false,
        });
        // Inlined entity files lose their own $id: inside a bundle it would be a sub-resource.
        expect(text.match(/"\$id"/g)).toHaveLength(1);
      }
    },
  );

  it("gives each title one definition across all schemas", () => {
    // A title becomes a generated type name: two different shapes under one title would clash.
    const shapes = new Map<string, string>();
    const check = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(check);
      else if (typeof node === "object" && node !== null) {
        const { title, $id, $schema: _schema, ...rest } = node as Record<string, unknown>;
        if (typeof title === "string" && $id === undefined) {
          const shape = JSON.stringify(rest);
          expect([title, shapes.get(title) ?? shape]).toEqual([title, shape]);
          shapes.set(title, shape);
        }
        Object.values(node).forEach(check);
      }
    };
    for (const schema of [...requests.values(), ...entities.values()]) check(schema.bundled);
    expect([...shapes.keys()]).toEqual(
      expect.arrayContaining([
        "Recurrence",
        "ZoomConfig",
        "ZoomConfigPatch",
        "Committee",
        "Occurrence",
      ]),
    );
  });

  it("loads again without recompiling conflicts, and the validators still work", async () => {
    const again = await loadRequestSchemas();
    expect(again.get("lfx.meetings.get")?.validate({ uid: "abc" })).toEqual([]);
    expect(again.get("lfx.meetings.get")?.validate({})).toEqual([
      { path: "/uid", message: "is required" },
    ]);
  });

  it("refuses a schema whose $id is not its path, naming the file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "schemas-"));
    try {
      await cp(SCHEMA_DIR, dir, { recursive: true });
      const file = join(dir, "meetings.get.json");
      const schema = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
      await writeFile(file, JSON.stringify({ ...schema, $id: "https://example.com/x.json" }));
      await expect(loadRequestSchemas(dir)).rejects.toThrow(
        "schema meetings.get.json: $id must be https://schemas.lfx.dev/meeting-service/meetings.get.json",
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("never fetches a $ref from the network", async () => {
    const dir = await mkdtemp(join(tmpdir(), "schemas-"));
    try {
      await cp(SCHEMA_DIR, dir, { recursive: true });
      const file = join(dir, "meetings.get.json");
      const schema = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
      const properties = { uid: { $ref: "https://example.com/common.json#/definitions/uid" } };
      await writeFile(file, JSON.stringify({ ...schema, properties }));
      await expect(loadRequestSchemas(dir)).rejects.toThrow();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("lfx.meetings.create", () => {
  it("accepts the required fields alone", () => {
    expect(create(validCreate())).toEqual([]);
  });

  it("accepts every settable field", () => {
    const full = validCreate({
      description: "Weekly sync",
      recurrence: { type: 2, repeat_interval: 1, weekly_days: "2,4", end_times: 10 },
      committees: [{ uid: COMMITTEE_UID, allowed_voting_statuses: ["Voting Rep", "Observer"] }],
      platform: "Zoom",
      early_join_time_minutes: 15,
      meeting_type: "Technical",
      visibility: "public",
      restricted: false,
      artifact_visibility: "meeting_participants",
      recording_enabled: true,
      transcript_enabled: true,
      youtube_upload_enabled: false,
      show_meeting_attendees: true,
      zoom_config: {
        meeting_id: "81234567890",
        passcode: "s3cret",
        ai_companion_enabled: true,
        ai_summary_require_approval: false,
      },
      organizers: ["alice", "bob"],
    });
    expect(create(full)).toEqual([]);
  });

  it("reports every missing required field at once", () => {
    expect(create({})).toEqual([
      { path: "/project_uid", message: "is required" },
      { path: "/title", message: "is required" },
      { path: "/start_time", message: "is required" },
      { path: "/duration", message: "is required" },
      { path: "/timezone", message: "is required" },
    ]);
  });

  it("rejects a request that is not an object", () => {
    expect(create([])).toEqual([{ path: "", message: "must be an object" }]);
    expect(create("x")).toEqual([{ path: "", message: "must be an object" }]);
    expect(create(null)).toEqual([{ path: "", message: "cannot be null (must be an object)" }]);
  });

  it("rejects unknown properties, naming each", () => {
    expect(create(validCreate({ foo: 1, "a/b~c": true }))).toEqual([
      { path: "/foo", message: 'unknown property "foo" is not allowed' },
      { path: "/a~1b~0c", message: 'unknown property "a/b~c" is not allowed' },
    ]);
  });

  it.each([
    "uid",
    "created_at",
    "updated_at",
    "registrant_count",
    "occurrences",
    "series_end_date",
    "public_link",
    "revision",
  ])("rejects the server-set field %s", (field) => {
    expect(create(validCreate({ [field]: field === "revision" ? 1 : "x" }))).toEqual([
      { path: `/${field}`, message: `unknown property "${field}" is not allowed` },
    ]);
  });

  it("reports all violations of one request together", () => {
    const details = create(
      validCreate({
        foo: 1,
        project_uid: "not-a-uuid",
        title: "",
        start_time: "2030-01-07 15:00",
        duration: 601,
        timezone: "Mars/Olympus",
        early_join_time_minutes: 5,
        meeting_type: "Party",
      }),
    );
    expect(details).toEqual(
      expect.arrayContaining([
        { path: "/foo", message: 'unknown property "foo" is not allowed' },
        { path: "/project_uid", message: "must be a UUID" },
        { path: "/title", message: "must not be empty" },
        {
          path: "/start_time",
          message: "must be an RFC 3339 date-time with a time zone (e.g. 2030-01-31T15:00:00Z)",
        },
        { path: "/duration", message: "must be <= 600" },
        { path: "/timezone", message: "must be an IANA time zone name (e.g. Europe/Berlin)" },
        { path: "/early_join_time_minutes", message: "must be >= 10" },
        {
          path: "/meeting_type",
          message:
            'must be one of "Board", "Maintainers", "Marketing", "Technical", "Legal", "Other", "None"',
        },
      ]),
    );
    expect(details).toHaveLength(8);
  });

  describe("title", () => {
    it("is 1..256 characters", () => {
      expect(create(validCreate({ title: "t" }))).toEqual([]);
      expect(create(validCreate({ title: "t".repeat(256) }))).toEqual([]);
      expect(create(validCreate({ title: "" }))).toEqual([
        { path: "/title", message: "must not be empty" },
      ]);
      expect(create(validCreate({ title: "t".repeat(257) }))).toEqual([
        { path: "/title", message: "must be at most 256 characters long" },
      ]);
      expect(create(validCreate({ title: 5 }))).toEqual([
        { path: "/title", message: "must be a string" },
      ]);
    });
  });

  it("takes a description of at most 2000 characters", () => {
    expect(create(validCreate({ description: "" }))).toEqual([]);
    expect(create(validCreate({ description: "d".repeat(2000) }))).toEqual([]);
    expect(create(validCreate({ description: "d".repeat(2001) }))).toEqual([
      { path: "/description", message: "must be at most 2000 characters long" },
    ]);
  });

  it("takes a duration of 0..600 whole minutes", () => {
    expect(create(validCreate({ duration: 0 }))).toEqual([]);
    expect(create(validCreate({ duration: 600 }))).toEqual([]);
    expect(create(validCreate({ duration: -1 }))).toEqual([
      { path: "/duration", message: "must be >= 0" },
    ]);
    expect(create(validCreate({ duration: 601 }))).toEqual([
      { path: "/duration", message: "must be <= 600" },
    ]);
    expect(create(validCreate({ duration: 30.5 }))).toEqual([
      { path: "/duration", message: "must be an integer" },
    ]);
    expect(create(validCreate({ duration: "60" }))).toEqual([
      { path: "/duration", message: "must be an integer" },
    ]);
  });

  it("takes early_join_time_minutes of 10..60", () => {
    expect(create(validCreate({ early_join_time_minutes: 10 }))).toEqual([]);
    expect(create(validCreate({ early_join_time_minutes: 60 }))).toEqual([]);
    expect(create(validCreate({ early_join_time_minutes: 9 }))).toEqual([
      { path: "/early_join_time_minutes", message: "must be >= 10" },
    ]);
    expect(create(validCreate({ early_join_time_minutes: 61 }))).toEqual([
      { path: "/early_join_time_minutes", message: "must be <= 60" },
    ]);
  });

  it.each([
    ["meeting_type", "Board", "board"],
    ["meeting_type", "None", "none"],
    ["visibility", "private", "secret"],
    ["artifact_visibility", "meeting_hosts", "hosts"],
    ["platform", "Zoom", "Teams"],
  ])("takes %s from its enum (%s ok, %s not)", (field, good, bad) => {
    expect(create(validCreate({ [field]: good }))).toEqual([]);
    const details = create(validCreate({ [field]: bad }));
    expect(details).toHaveLength(1);
    expect(details[0]?.path).toBe(`/${field}`);
    expect(details[0]?.message).toMatch(/^must be one of /);
    expect(details[0]?.message).toContain(JSON.stringify(good));
  });

  it.each([
    "restricted",
    "recording_enabled",
    "transcript_enabled",
    "youtube_upload_enabled",
    "show_meeting_attendees",
  ])("takes %s as a boolean only", (field) => {
    expect(create(validCreate({ [field]: true }))).toEqual([]);
    expect(create(validCreate({ [field]: "true" }))).toEqual([
      { path: `/${field}`, message: "must be a boolean" },
    ]);
  });

  it("takes project_uid and committee uids as UUIDs", () => {
    expect(create(validCreate({ project_uid: "0F8B3C1E-8F7D-4A3B-9C2D-1E2F3A4B5C6D" }))).toEqual(
      [],
    );
    expect(create(validCreate({ project_uid: "0f8b3c1e8f7d4a3b9c2d1e2f3a4b5c6" }))).toEqual([
      { path: "/project_uid", message: "must be a UUID" },
    ]);
    expect(create(validCreate({ committees: [{ uid: "c1" }] }))).toEqual([
      { path: "/committees/0/uid", message: "must be a UUID" },
    ]);
    expect(create(validCreate({ committees: [{ allowed_voting_statuses: [] }] }))).toEqual([
      { path: "/committees/0/uid", message: "is required" },
    ]);
    expect(create(validCreate({ committees: [{ uid: COMMITTEE_UID, role: "x" }] }))).toEqual([
      { path: "/committees/0/role", message: 'unknown property "role" is not allowed' },
    ]);
  });

  describe("timezone", () => {
    it.each(["Europe/Berlin", "America/Argentina/Buenos_Aires", "UTC", "Etc/GMT+5", "Asia/Tokyo"])(
      "accepts %s",
      (timezone) => {
        expect(create(validCreate({ timezone }))).toEqual([]);
      },
    );

    it.each(["Mars/Olympus", "EST5EDT-ish junk", "+01:00", "", "Europe/", "local"])(
      "rejects %j",
      (timezone) => {
        expect(create(validCreate({ timezone }))).toEqual([
          { path: "/timezone", message: "must be an IANA time zone name (e.g. Europe/Berlin)" },
        ]);
      },
    );
  });

  describe("start_time", () => {
    it.each(["2030-01-07T15:00:00Z", "2030-01-07T16:00:00+01:00", "2030-01-07T15:00:00.123Z"])(
      "accepts %s",
      (start_time) => {
        expect(create(validCreate({ start_time }))).toEqual([]);
      },
    );

    it.each(["2030-01-07", "2030-01-07T15:00:00", "2030-13-07T15:00:00Z", "tomorrow", ""])(
      "rejects %j",
      (start_time) => {
        expect(create(validCreate({ start_time }))).toEqual([
          {
            path: "/start_time",
            message: "must be an RFC 3339 date-time with a time zone (e.g. 2030-01-31T15:00:00Z)",
          },
        ]);
      },
    );
  });

  describe("organizers", () => {
    it("are optional, unique, 1..256 characters, at most 100", () => {
      expect(create(validCreate({ organizers: [] }))).toEqual([]);
      expect(create(validCreate({ organizers: ["a".repeat(256)] }))).toEqual([]);
      expect(create(validCreate({ organizers: ["alice", "alice"] }))).toEqual([
        { path: "/organizers", message: "must not contain duplicates (items 0 and 1 are equal)" },
      ]);
      expect(create(validCreate({ organizers: ["alice", ""] }))).toEqual([
        { path: "/organizers/1", message: "must not be empty" },
      ]);
      expect(create(validCreate({ organizers: ["a".repeat(257)] }))).toEqual([
        { path: "/organizers/0", message: "must be at most 256 characters long" },
      ]);
      const many = Array.from({ length: 101 }, (_, i) => `user${i}`);
      expect(create(validCreate({ organizers: many }))).toEqual([
        { path: "/organizers", message: "must have at most 100 item(s)" },
      ]);
      expect(create(validCreate({ organizers: "alice" }))).toEqual([
        { path: "/organizers", message: "must be an array" },
      ]);
    });
  });

  describe("zoom_config", () => {
    it("is a closed object of optional fields", () => {
      expect(create(validCreate({ zoom_config: {} }))).toEqual([]);
      expect(create(validCreate({ zoom_config: { pin: "1" } }))).toEqual([
        { path: "/zoom_config/pin", message: 'unknown property "pin" is not allowed' },
      ]);
      expect(create(validCreate({ zoom_config: { ai_companion_enabled: 1 } }))).toEqual([
        { path: "/zoom_config/ai_companion_enabled", message: "must be a boolean" },
      ]);
      expect(create(validCreate({ zoom_config: null }))).toEqual([
        { path: "/zoom_config", message: "cannot be null (must be an object)" },
      ]);
    });
  });

  describe("recurrence", () => {
    it.each([
      { type: 1, repeat_interval: 1 },
      { type: 2, repeat_interval: 2, weekly_days: "1,3,5" },
      { type: 2, repeat_interval: 1, weekly_days: "7", end_date_time: "2030-06-01T00:00:00Z" },
      { type: 3, repeat_interval: 1, monthly_day: 31, end_times: 12 },
      { type: 3, repeat_interval: 1, monthly_week: -1, monthly_week_day: 6 },
      { type: 3, repeat_interval: 1, monthly_week: 4, monthly_week_day: 1, end_times: 1 },
    ])("accepts %j", (recurrence) => {
      expect(create(validCreate({ recurrence }))).toEqual([]);
    });

    it("requires type and repeat_interval", () => {
      expect(create(validCreate({ recurrence: {} }))).toEqual([
        { path: "/recurrence/type", message: "is required" },
        { path: "/recurrence/repeat_interval", message: "is required" },
      ]);
    });

    it("takes type 1, 2 or 3", () => {
      expect(create(withRecurrence({ type: 4 }))).toEqual([
        { path: "/recurrence/type", message: "must be one of 1, 2, 3" },
      ]);
      expect(create(withRecurrence({ type: 0 }))).toEqual([
        { path: "/recurrence/type", message: "must be one of 1, 2, 3" },
      ]);
    });

    it("takes repeat_interval >= 1", () => {
      expect(create(withRecurrence({ repeat_interval: 0 }))).toEqual([
        { path: "/recurrence/repeat_interval", message: "must be >= 1" },
      ]);
    });

    it("rejects end_times together with end_date_time", () => {
      expect(
        create(withRecurrence({ end_times: 3, end_date_time: "2030-06-01T00:00:00Z" })),
      ).toEqual([
        {
          path: "/recurrence/end_date_time",
          message: "cannot be set together with end_times: use at most one of them",
        },
      ]);
    });

    it("takes end_times >= 1 and end_date_time as a date-time", () => {
      expect(create(withRecurrence({ end_times: 0 }))).toEqual([
        { path: "/recurrence/end_times", message: "must be >= 1" },
      ]);
      expect(create(withRecurrence({ end_date_time: "2030-06-01" }))).toEqual([
        {
          path: "/recurrence/end_date_time",
          message: "must be an RFC 3339 date-time with a time zone (e.g. 2030-01-31T15:00:00Z)",
        },
      ]);
    });

    it("rejects monthly_day with monthly_week or monthly_week_day", () => {
      expect(
        create(withRecurrence({ type: 3, monthly_day: 1, monthly_week: 2, monthly_week_day: 3 })),
      ).toEqual([
        { path: "/recurrence/monthly_week", message: "cannot be combined with monthly_day" },
        { path: "/recurrence/monthly_week_day", message: "cannot be combined with monthly_day" },
      ]);
    });

    it("takes monthly_week and monthly_week_day only together", () => {
      expect(create(withRecurrence({ type: 3, monthly_week: 2 }))).toEqual([
        { path: "/recurrence/monthly_week_day", message: "is required when monthly_week is set" },
      ]);
      expect(create(withRecurrence({ type: 3, monthly_week_day: 2 }))).toEqual([
        { path: "/recurrence/monthly_week", message: "is required when monthly_week_day is set" },
      ]);
    });

    it("checks the ranges of the monthly fields", () => {
      expect(create(withRecurrence({ type: 3, monthly_day: 0 }))).toEqual([
        { path: "/recurrence/monthly_day", message: "must be >= 1" },
      ]);
      expect(create(withRecurrence({ type: 3, monthly_day: 32 }))).toEqual([
        { path: "/recurrence/monthly_day", message: "must be <= 31" },
      ]);
      expect(create(withRecurrence({ type: 3, monthly_week: 0, monthly_week_day: 8 }))).toEqual([
        { path: "/recurrence/monthly_week", message: "must be one of -1, 1, 2, 3, 4" },
        { path: "/recurrence/monthly_week_day", message: "must be <= 7" },
      ]);
    });

    it.each(["", "0", "8", "1,", ",1", "1;3", "1, 3", "1,2,3,4,5,6,7,1"])(
      "rejects weekly_days %j",
      (weekly_days) => {
        expect(create(withRecurrence({ weekly_days }))).toEqual([
          {
            path: "/recurrence/weekly_days",
            message: "must match the pattern ^[1-7](,[1-7]){0,6}$",
          },
        ]);
      },
    );

    it("rejects unknown recurrence fields", () => {
      expect(create(withRecurrence({ weekly_day: "1" }))).toEqual([
        { path: "/recurrence/weekly_day", message: 'unknown property "weekly_day" is not allowed' },
      ]);
    });
  });
});

describe("lfx.meetings.update", () => {
  it("needs only uid and revision", () => {
    expect(update({ uid: "abc", revision: 1 })).toEqual([]);
    expect(update({})).toEqual([
      { path: "/uid", message: "is required" },
      { path: "/revision", message: "is required" },
    ]);
  });

  it("accepts any subset of the settable fields", () => {
    expect(update({ uid: "abc", revision: 3, title: "New", duration: 30 })).toEqual([]);
    expect(update({ uid: "abc", revision: 3, zoom_config: { passcode: "x" } })).toEqual([]);
  });

  it.each([
    "description",
    "recurrence",
    "committees",
    "meeting_type",
    "visibility",
    "restricted",
    "artifact_visibility",
    "recording_enabled",
    "transcript_enabled",
    "youtube_upload_enabled",
    "show_meeting_attendees",
    "zoom_config",
  ])("takes null on the optional field %s (clears it)", (field) => {
    expect(update({ uid: "abc", revision: 1, [field]: null })).toEqual([]);
  });

  it.each([
    ["project_uid", "a string"],
    ["title", "a string"],
    ["start_time", "a string"],
    ["duration", "an integer"],
    ["timezone", "a string"],
    ["platform", "a string"],
    ["early_join_time_minutes", "an integer"],
  ])("rejects null on %s, which is always present", (field, type) => {
    expect(update({ uid: "abc", revision: 1, [field]: null })).toEqual([
      { path: `/${field}`, message: `cannot be null (must be ${type})` },
    ]);
  });

  it("gives one message for a wrong type on a nullable field", () => {
    expect(update({ uid: "abc", revision: 1, description: 5 })).toEqual([
      { path: "/description", message: "must be a string or null" },
    ]);
    expect(update({ uid: "abc", revision: 1, zoom_config: "x" })).toEqual([
      { path: "/zoom_config", message: "must be an object or null" },
    ]);
    expect(update({ uid: "abc", revision: 1, committees: {} })).toEqual([
      { path: "/committees", message: "must be an array or null" },
    ]);
  });

  it("reports a nullable field's own rule, not the null alternative", () => {
    expect(update({ uid: "abc", revision: 1, description: "d".repeat(2001) })).toEqual([
      { path: "/description", message: "must be at most 2000 characters long" },
    ]);
    expect(update({ uid: "abc", revision: 1, meeting_type: "Party" })).toEqual([
      {
        path: "/meeting_type",
        message:
          'must be one of "Board", "Maintainers", "Marketing", "Technical", "Legal", "Other", "None"',
      },
    ]);
  });

  it("validates a recurrence as a whole (replace, not merge)", () => {
    expect(update({ uid: "abc", revision: 1, recurrence: { end_times: 2 } })).toEqual([
      { path: "/recurrence/type", message: "is required" },
      { path: "/recurrence/repeat_interval", message: "is required" },
    ]);
    expect(
      update({
        uid: "abc",
        revision: 1,
        recurrence: {
          type: 1,
          repeat_interval: 1,
          end_times: 2,
          end_date_time: "2030-01-01T00:00:00Z",
        },
      }),
    ).toEqual([
      {
        path: "/recurrence/end_date_time",
        message: "cannot be set together with end_times: use at most one of them",
      },
    ]);
  });

  it("takes a partial zoom_config whose fields may be null", () => {
    expect(
      update({
        uid: "abc",
        revision: 1,
        zoom_config: { passcode: null, ai_companion_enabled: true },
      }),
    ).toEqual([]);
    expect(
      update({ uid: "abc", revision: 1, zoom_config: { ai_companion_enabled: "yes" } }),
    ).toEqual([
      { path: "/zoom_config/ai_companion_enabled", message: "must be a boolean or null" },
    ]);
    expect(update({ uid: "abc", revision: 1, zoom_config: { pin: null } })).toEqual([
      { path: "/zoom_config/pin", message: 'unknown property "pin" is not allowed' },
    ]);
  });

  it.each(["created_at", "updated_at", "registrant_count", "occurrences", "organizers", "foo"])(
    "rejects %s",
    (field) => {
      expect(update({ uid: "abc", revision: 1, [field]: null })).toEqual([
        { path: `/${field}`, message: `unknown property "${field}" is not allowed` },
      ]);
    },
  );
});

describe("uid and revision", () => {
  const subjects = [
    "lfx.meetings.get",
    "lfx.meetings.update",
    "lfx.meetings.delete",
    "lfx.meeting-settings.get",
    "lfx.meeting-settings.update",
  ];
  const base = (subject: string): Record<string, unknown> =>
    subject.endsWith(".get")
      ? {}
      : subject === "lfx.meeting-settings.update"
        ? { revision: 1, organizers: [] }
        : { revision: 1 };

  it.each(subjects)("%s accepts a nanoid-like uid", (subject) => {
    expect(request(subject).validate({ ...base(subject), uid: "V1StGXR8_Z5jdHi6B-myT" })).toEqual(
      [],
    );
  });

  it.each(
    subjects.flatMap((s) =>
      ["a.b", "*", ">", "a/b", "", "a b", "a".repeat(129)].map((uid) => [s, uid]),
    ),
  )("%s rejects uid %j", (subject, uid) => {
    expect(request(subject).validate({ ...base(subject), uid })).toEqual([
      { path: "/uid", message: "must match the pattern ^[A-Za-z0-9_-]{1,128}$" },
    ]);
  });

  it("accepts exactly the uids made of 1..128 URL-safe characters", () => {
    const urlSafe = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    fc.assert(
      fc.property(fc.string({ minLength: 0, maxLength: 140 }), (uid) => {
        const ok =
          uid.length >= 1 && uid.length <= 128 && [...uid].every((c) => urlSafe.includes(c));
        const details = request("lfx.meetings.get").validate({ uid });
        return ok ? details.length === 0 : details[0]?.path === "/uid";
      }),
    );
  });

  it.each(["lfx.meetings.update", "lfx.meetings.delete", "lfx.meeting-settings.update"])(
    "%s takes revision as an integer >= 1",
    (subject) => {
      const valid = { ...base(subject), uid: "abc" };
      expect(request(subject).validate({ ...valid, revision: 1 })).toEqual([]);
      expect(request(subject).validate({ ...valid, revision: 0 })).toEqual([
        { path: "/revision", message: "must be >= 1" },
      ]);
      expect(request(subject).validate({ ...valid, revision: 1.5 })).toEqual([
        { path: "/revision", message: "must be an integer" },
      ]);
      expect(request(subject).validate({ ...valid, revision: "1" })).toEqual([
        { path: "/revision", message: "must be an integer" },
      ]);
      const { revision: _revision, ...withoutRevision } = { ...valid, revision: 1 };
      expect(request(subject).validate(withoutRevision)).toEqual([
        { path: "/revision", message: "is required" },
      ]);
    },
  );
});

describe("lfx.meetings.delete and get", () => {
  it("take nothing but their keys", () => {
    expect(
      request("lfx.meetings.delete").validate({ uid: "abc", revision: 2, force: true }),
    ).toEqual([{ path: "/force", message: 'unknown property "force" is not allowed' }]);
    expect(request("lfx.meetings.get").validate({ uid: "abc", revision: 2 })).toEqual([
      { path: "/revision", message: 'unknown property "revision" is not allowed' },
    ]);
  });
});

describe("lfx.meetings.list", () => {
  const list = (data: unknown): ErrorDetail[] => request("lfx.meetings.list").validate(data);

  it("takes optional filters, limit and cursor", () => {
    expect(list({})).toEqual([]);
    expect(
      list({ project_uid: PROJECT_UID, committee_uid: COMMITTEE_UID, limit: 1000, cursor: "c" }),
    ).toEqual([]);
  });

  it("checks them", () => {
    expect(
      list({ project_uid: "p", committee_uid: "c", limit: 0, cursor: "", title: "x" }),
    ).toEqual([
      { path: "/title", message: 'unknown property "title" is not allowed' },
      { path: "/project_uid", message: "must be a UUID" },
      { path: "/committee_uid", message: "must be a UUID" },
      { path: "/limit", message: "must be >= 1" },
      { path: "/cursor", message: "must not be empty" },
    ]);
    expect(list({ limit: 1001, cursor: "c".repeat(1025) })).toEqual([
      { path: "/limit", message: "must be <= 1000" },
      { path: "/cursor", message: "must be at most 1024 characters long" },
    ]);
  });
});

describe("lfx.meeting-settings", () => {
  const settingsUpdate = (data: unknown): ErrorDetail[] =>
    request("lfx.meeting-settings.update").validate(data);

  it("update requires uid, revision and organizers", () => {
    expect(settingsUpdate({ uid: "abc", revision: 1, organizers: ["alice"] })).toEqual([]);
    expect(settingsUpdate({ uid: "abc", revision: 1 })).toEqual([
      { path: "/organizers", message: "is required" },
    ]);
    expect(settingsUpdate({ uid: "abc", revision: 1, organizers: null })).toEqual([
      { path: "/organizers", message: "cannot be null (must be an array)" },
    ]);
    expect(settingsUpdate({ uid: "abc", revision: 1, organizers: ["a", "a"] })).toEqual([
      { path: "/organizers", message: "must not contain duplicates (items 0 and 1 are equal)" },
    ]);
  });

  it("get takes the meeting's uid only", () => {
    expect(request("lfx.meeting-settings.get").validate({ uid: "abc" })).toEqual([]);
    expect(request("lfx.meeting-settings.get").validate({ uid: "abc", organizers: [] })).toEqual([
      { path: "/organizers", message: 'unknown property "organizers" is not allowed' },
    ]);
  });
});

describe("entities", () => {
  const occurrence = {
    occurrence_id: "1894028400",
    start_time: "2030-01-07T15:00:00Z",
    duration: 60,
    title: "TSC weekly",
    is_cancelled: false,
    registrant_count: 0,
    response_count_yes: 0,
    response_count_no: 0,
    response_count_maybe: 0,
  };
  const meeting = {
    ...validCreate(),
    uid: "V1StGXR8_Z5jdHi6B-myT",
    platform: "Zoom",
    early_join_time_minutes: 10,
    registrant_count: 0,
    email_delivery_error_count: 0,
    occurrences: [occurrence],
    ...TIMESTAMPS,
    revision: 1,
  };

  it("Meeting accepts a created meeting and every server-set field", () => {
    expect(entity("meeting").validate(meeting)).toEqual([]);
    expect(
      entity("meeting").validate({
        ...meeting,
        series_end_date: "2030-01-07T16:00:00Z",
        public_link: "https://zoom.example/j/123",
        recurrence: { type: 1, repeat_interval: 1, end_times: 1 },
      }),
    ).toEqual([]);
  });

  it("Meeting requires what is always present", () => {
    expect(entity("meeting").validate({})).toEqual(
      [
        "uid",
        "project_uid",
        "title",
        "start_time",
        "duration",
        "timezone",
        "platform",
        "early_join_time_minutes",
        "registrant_count",
        "email_delivery_error_count",
        "occurrences",
        "created_at",
        "updated_at",
        "revision",
      ].map((field) => ({ path: `/${field}`, message: "is required" })),
    );
  });

  it("Meeting checks its occurrences against Occurrence", () => {
    expect(
      entity("meeting").validate({ ...meeting, occurrences: [{ ...occurrence, extra: 1 }] }),
    ).toEqual([
      { path: "/occurrences/0/extra", message: 'unknown property "extra" is not allowed' },
    ]);
    expect(entity("occurrence").validate(occurrence)).toEqual([]);
    expect(entity("occurrence").validate({ ...occurrence, occurrence_id: 1894028400 })).toEqual([
      { path: "/occurrence_id", message: "must be a string" },
    ]);
  });

  it("MeetingSettings and Deleted", () => {
    const settings = { uid: "abc", organizers: ["alice"], ...TIMESTAMPS, revision: 2 };
    expect(entity("meeting-settings").validate(settings)).toEqual([]);
    const { revision: _revision, ...withoutRevision } = settings;
    expect(entity("meeting-settings").validate(withoutRevision)).toEqual([
      { path: "/revision", message: "is required" },
    ]);
    expect(entity("deleted").validate({ uid: "abc", deleted: true })).toEqual([]);
    expect(entity("deleted").validate({ uid: "abc", deleted: false })).toEqual([
      { path: "/deleted", message: "must be true" },
    ]);
  });
});
