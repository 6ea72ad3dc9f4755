import { randomUUID } from "node:crypto";
import { meetingInput } from "../support/builders.js";
import { ok, type Page, request } from "../support/request.js";
import { useServiceHarness } from "../support/harness.js";

interface MeetingReply {
  uid: string;
  revision: number;
  title: string;
  project_uid: string;
  description?: string;
  registrant_count: number;
  occurrences: unknown[];
  created_at: string;
  updated_at: string;
  series_end_date?: string;
  platform: string;
  early_join_time_minutes: number;
  zoom_config?: Record<string, unknown>;
  committees?: { uid: string }[];
}
interface ErrorReply {
  error: {
    status: number;
    code: string;
    message: string;
    details?: { path: string; message: string }[];
  };
}

const harness = useServiceHarness(1);

async function createMeeting(overrides: Record<string, unknown> = {}) {
  return ok<MeetingReply>(harness.client, "lfx.meetings.create", meetingInput(overrides));
}

describe("lfx.meetings.create", () => {
  it("creates a meeting with server-set fields and its settings", async () => {
    const meeting = await createMeeting({ organizers: ["alice"] });
    expect(meeting.uid).toMatch(/^[A-Za-z0-9_-]{21}$/);
    expect(meeting.revision).toBeGreaterThan(0);
    expect(meeting.registrant_count).toBe(0);
    expect(meeting.platform).toBe("Zoom");
    expect(meeting.early_join_time_minutes).toBe(10);
    expect(meeting.series_end_date).toBe("2030-01-15T16:00:00.000Z");
    expect(meeting.created_at).toMatch(/Z$/);
    const settings = await ok<{ uid: string; organizers: string[]; revision: number }>(
      harness.client,
      "lfx.meeting-settings.get",
      { uid: meeting.uid },
    );
    expect(settings.organizers).toEqual(["alice"]);
  });

  it("stores and replies timestamps in UTC whatever offset they were sent with", async () => {
    const meeting = await createMeeting({
      start_time: "2030-01-15T10:00:00-05:00",
      recurrence: { type: 1, repeat_interval: 1, end_date_time: "2030-01-20T01:00:00+01:00" },
    });
    expect(meeting).toMatchObject({
      start_time: "2030-01-15T15:00:00Z",
      recurrence: { end_date_time: "2030-01-20T00:00:00Z" },
    });
  });

  it("rejects an unknown field and a missing one, naming both", async () => {
    const { title: _title, ...rest } = meetingInput();
    const reply = await request<ErrorReply>(harness.client, "lfx.meetings.create", {
      ...rest,
      colour: "red",
    });
    expect(reply.status).toBe(400);
    expect(reply.body.error.code).toBe("invalid_request");
    const paths = reply.body.error.details?.map((d) => d.path);
    expect(paths).toEqual(expect.arrayContaining(["/title", "/colour"]));
  });

  it.each([
    ["empty body", ""],
    ["not JSON", "{nope"],
    ["an array", "[]"],
    ["a string", '"meeting"'],
  ])("answers %s with a 400", async (_label, body) => {
    const reply = await request<ErrorReply>(harness.client, "lfx.meetings.create", body);
    expect(reply.status).toBe(400);
    expect(reply.body.error.code).toBe("invalid_request");
    expect(reply.headers["Nats-Service-Error-Code"]).toBe("400");
  });

  it("refuses server-set fields from the harness.client", async () => {
    const reply = await request<ErrorReply>(
      harness.client,
      "lfx.meetings.create",
      meetingInput({ uid: "abc", registrant_count: 4 }),
    );
    expect(reply.status).toBe(400);
    expect(reply.body.error.details?.map((d) => d.path)).toEqual(
      expect.arrayContaining(["/uid", "/registrant_count"]),
    );
  });
});

describe("lfx.meetings.get", () => {
  it("returns the meeting", async () => {
    const created = await createMeeting();
    const got = await ok<MeetingReply>(harness.client, "lfx.meetings.get", { uid: created.uid });
    expect(got).toEqual(created);
  });

  it("is a 404 for an unknown uid", async () => {
    const reply = await request<ErrorReply>(harness.client, "lfx.meetings.get", {
      uid: "doesNotExist",
    });
    expect(reply.status).toBe(404);
    expect(reply.body.error.code).toBe("not_found");
  });

  it.each(["a.b", "*", ">", "a/b", ""])("rejects the uid %j as a 400", async (uid) => {
    const reply = await request<ErrorReply>(harness.client, "lfx.meetings.get", { uid });
    expect(reply.status).toBe(400);
  });
});

describe("lfx.meetings.update", () => {
  it("merge-patches the fields present", async () => {
    const created = await createMeeting({
      description: "old",
      zoom_config: { meeting_id: "123", ai_companion_enabled: true },
    });
    const updated = await ok<MeetingReply>(harness.client, "lfx.meetings.update", {
      uid: created.uid,
      revision: created.revision,
      title: "New title",
      description: null,
      zoom_config: { passcode: "secret" },
    });
    expect(updated.title).toBe("New title");
    expect(updated).not.toHaveProperty("description");
    expect(updated.zoom_config).toEqual({
      meeting_id: "123",
      ai_companion_enabled: true,
      passcode: "secret",
    });
    expect(updated.revision).toBeGreaterThan(created.revision);
    expect(updated.project_uid).toBe(created.project_uid);
  });

  it("rejects null on a required field", async () => {
    const created = await createMeeting();
    const reply = await request<ErrorReply>(harness.client, "lfx.meetings.update", {
      uid: created.uid,
      revision: created.revision,
      title: null,
    });
    expect(reply.status).toBe(400);
    expect(reply.body.error.details?.[0]?.path).toBe("/title");
  });

  it("requires a revision", async () => {
    const created = await createMeeting();
    const reply = await request<ErrorReply>(harness.client, "lfx.meetings.update", {
      uid: created.uid,
      title: "x",
    });
    expect(reply.status).toBe(400);
    expect(reply.body.error.details?.map((d) => d.path)).toContain("/revision");
  });

  it("is a 409 on a stale revision and changes nothing", async () => {
    const created = await createMeeting();
    await ok(harness.client, "lfx.meetings.update", {
      uid: created.uid,
      revision: created.revision,
      title: "one",
    });
    const reply = await request<ErrorReply>(harness.client, "lfx.meetings.update", {
      uid: created.uid,
      revision: created.revision,
      title: "two",
    });
    expect(reply.status).toBe(409);
    expect(reply.body.error.code).toBe("conflict");
    const got = await ok<MeetingReply>(harness.client, "lfx.meetings.get", { uid: created.uid });
    expect(got.title).toBe("one");
  });

  it("answers a repeated update with the entity it produced, not a 409", async () => {
    const created = await createMeeting();
    const update = { uid: created.uid, revision: created.revision, title: "retried" };
    const first = await ok<MeetingReply>(harness.client, "lfx.meetings.update", update);
    const again = await ok<MeetingReply>(harness.client, "lfx.meetings.update", update);
    expect(again).toEqual(first);
  });

  it("is a 404 for an unknown meeting", async () => {
    const reply = await request<ErrorReply>(harness.client, "lfx.meetings.update", {
      uid: "nope",
      revision: 1,
      title: "x",
    });
    expect(reply.status).toBe(404);
  });

  it("lets exactly one of 10 concurrent updates at one revision win", async () => {
    const created = await createMeeting();
    const replies = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        request<MeetingReply>(harness.client, "lfx.meetings.update", {
          uid: created.uid,
          revision: created.revision,
          title: `writer ${i}`,
        }),
      ),
    );
    expect(replies.filter((r) => r.status === 200)).toHaveLength(1);
    expect(replies.filter((r) => r.status === 409)).toHaveLength(9);
  });
});

describe("lfx.meetings.delete", () => {
  it("deletes the meeting and its settings", async () => {
    const created = await createMeeting();
    const reply = await ok(harness.client, "lfx.meetings.delete", {
      uid: created.uid,
      revision: created.revision,
    });
    expect(reply).toEqual({ uid: created.uid, deleted: true });
    expect((await request(harness.client, "lfx.meetings.get", { uid: created.uid })).status).toBe(
      404,
    );
    expect(
      (await request(harness.client, "lfx.meeting-settings.get", { uid: created.uid })).status,
    ).toBe(404);
  });

  it("is a 409 on a stale revision", async () => {
    const created = await createMeeting();
    await ok(harness.client, "lfx.meetings.update", {
      uid: created.uid,
      revision: created.revision,
      title: "x",
    });
    const reply = await request(harness.client, "lfx.meetings.delete", {
      uid: created.uid,
      revision: created.revision,
    });
    expect(reply.status).toBe(409);
  });
});

describe("lfx.meetings.list", () => {
  it("pages through a project's meetings, each exactly once", async () => {
    const project = randomUUID();
    const created = await Promise.all(
      Array.from({ length: 7 }, () => createMeeting({ project_uid: project })),
    );
    await createMeeting(); // another project
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Page<MeetingReply> = await ok<Page<MeetingReply>>(
        harness.client,
        "lfx.meetings.list",
        {
          project_uid: project,
          limit: 3,
          ...(cursor === null ? {} : { cursor }),
        },
      );
      expect(page.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.items.map((m) => m.uid));
      cursor = page.next_cursor;
    } while (cursor !== null);
    expect(seen.sort()).toEqual(created.map((m) => m.uid).sort());
  });

  it("filters by committee and follows a project change", async () => {
    const committee = randomUUID();
    const meeting = await createMeeting({
      committees: [{ uid: committee, allowed_voting_statuses: [] }],
    });
    const byCommittee = await ok<Page<MeetingReply>>(harness.client, "lfx.meetings.list", {
      committee_uid: committee,
    });
    expect(byCommittee.items.map((m) => m.uid)).toEqual([meeting.uid]);

    const newProject = randomUUID();
    await ok(harness.client, "lfx.meetings.update", {
      uid: meeting.uid,
      revision: meeting.revision,
      project_uid: newProject,
    });
    const oldProject = await ok<Page<MeetingReply>>(harness.client, "lfx.meetings.list", {
      project_uid: meeting.project_uid,
    });
    expect(oldProject.items).toHaveLength(0);
    const moved = await ok<Page<MeetingReply>>(harness.client, "lfx.meetings.list", {
      project_uid: newProject,
    });
    expect(moved.items.map((m) => m.uid)).toEqual([meeting.uid]);
  });

  it("rejects a cursor it did not issue", async () => {
    const reply = await request<ErrorReply>(harness.client, "lfx.meetings.list", {
      cursor: "garbage!",
    });
    expect(reply.status).toBe(400);
    expect(reply.body.error.details?.[0]?.path).toBe("/cursor");
  });
});
