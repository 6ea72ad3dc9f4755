import { meetingInput, uniqueEmail } from "../support/builders.js";
import { ok, request } from "../support/request.js";
import { useServiceHarness } from "../support/harness.js";

interface Entity {
  uid: string;
  revision: number;
}
interface Rsvp extends Entity {
  meeting_uid: string;
  registrant_uid: string;
  email: string;
  username?: string;
  response: string;
  scope: string;
  occurrence_id?: string;
}
interface Page<T> {
  items: T[];
  next_cursor: string | null;
}
interface ErrorBody {
  error: { code: string; details?: { path: string }[] };
}

const harness = useServiceHarness(2);

/** Occurrence ids of the daily meeting below: its start plus `days` days, in unix seconds. */
const START_SECONDS = Date.parse("2030-01-15T15:00:00Z") / 1000;
const occurrence = (days: number) => String(START_SECONDS + days * 86_400);

async function meetingWithRegistrant(fields: Record<string, unknown> = {}) {
  const meeting = await ok<Entity>(
    harness.client,
    "lfx.meetings.create",
    meetingInput({
      start_time: "2030-01-15T15:00:00Z",
      timezone: "UTC",
      recurrence: { type: 1, repeat_interval: 1 },
    }),
  );
  const registrant = await ok<Entity & { email: string }>(
    harness.client,
    "lfx.registrants.create",
    {
      meeting_uid: meeting.uid,
      email: uniqueEmail(),
      ...fields,
    },
  );
  return { meeting, registrant };
}

const answer = (body: Record<string, unknown>) =>
  request<Rsvp>(harness.client, "lfx.rsvps.create", body);

async function listRsvps(filter: Record<string, unknown>): Promise<Rsvp[]> {
  const page = await ok<Page<Rsvp>>(harness.client, "lfx.rsvps.list", { ...filter, limit: 1000 });
  return page.items;
}

describe("lfx.rsvps.create", () => {
  it("records the answer with the registrant's email and username", async () => {
    const { meeting, registrant } = await meetingWithRegistrant({ username: "ada" });
    const reply = await answer({
      meeting_uid: meeting.uid,
      registrant_uid: registrant.uid,
      response: "accepted",
      scope: "all",
    });
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({
      meeting_uid: meeting.uid,
      registrant_uid: registrant.uid,
      email: registrant.email,
      username: "ada",
      response: "accepted",
      scope: "all",
    });
    expect(reply.body).not.toHaveProperty("occurrence_id");
  });

  it("replaces the earlier answer of the same registrant, scope and occurrence", async () => {
    const { meeting, registrant } = await meetingWithRegistrant();
    const base = {
      meeting_uid: meeting.uid,
      registrant_uid: registrant.uid,
      scope: "single",
      occurrence_id: occurrence(0),
    };
    const first = (await answer({ ...base, response: "accepted" })).body;
    const second = (await answer({ ...base, response: "declined" })).body;
    expect(second.uid).toBe(first.uid);
    expect(second.response).toBe("declined");
    expect(second.revision).toBeGreaterThan(first.revision);
    const other = (
      await answer({ ...base, scope: "all", occurrence_id: undefined, response: "maybe" })
    ).body;
    expect(other.uid).not.toBe(first.uid);
    expect(await listRsvps({ meeting_uid: meeting.uid })).toHaveLength(2);
  });

  it("keeps one RSVP when 10 answers race on two harness.instances", async () => {
    const { meeting, registrant } = await meetingWithRegistrant();
    const responses = ["accepted", "declined", "maybe"];
    const replies = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        answer({
          meeting_uid: meeting.uid,
          registrant_uid: registrant.uid,
          scope: "all",
          response: responses[i % 3],
        }),
      ),
    );
    expect(replies.every((r) => r.status === 200)).toBe(true);
    expect(new Set(replies.map((r) => r.body.uid)).size).toBe(1);
    const listed = await listRsvps({ meeting_uid: meeting.uid });
    expect(listed).toHaveLength(1);
  });

  it.each([
    [{ scope: "single" }, "/occurrence_id"],
    [{ scope: "this_and_following" }, "/occurrence_id"],
    [{ scope: "all", occurrence_id: occurrence(0) }, "/occurrence_id"],
    [{ scope: "all", response: "yes" }, "/response"],
  ])("rejects %j naming %s", async (fields, path) => {
    const { meeting, registrant } = await meetingWithRegistrant();
    const reply = await request<ErrorBody>(harness.client, "lfx.rsvps.create", {
      meeting_uid: meeting.uid,
      registrant_uid: registrant.uid,
      response: "accepted",
      ...fields,
    });
    expect(reply.status).toBe(400);
    expect(reply.body.error.details?.map((d) => d.path)).toContain(path);
  });

  it("is a 404 for a registrant of another meeting, or none", async () => {
    const { registrant } = await meetingWithRegistrant();
    const { meeting: other } = await meetingWithRegistrant();
    const foreign = await answer({
      meeting_uid: other.uid,
      registrant_uid: registrant.uid,
      response: "accepted",
      scope: "all",
    });
    expect(foreign.status).toBe(404);
    const missing = await answer({
      meeting_uid: other.uid,
      registrant_uid: "nobody",
      response: "accepted",
      scope: "all",
    });
    expect(missing.status).toBe(404);
  });
});

describe("lfx.rsvps.list, get and delete", () => {
  it("lists by meeting and by occurrence", async () => {
    const { meeting, registrant } = await meetingWithRegistrant();
    const base = { meeting_uid: meeting.uid, registrant_uid: registrant.uid, response: "accepted" };
    await answer({ ...base, scope: "all" });
    const single = (await answer({ ...base, scope: "single", occurrence_id: occurrence(0) })).body;
    await answer({ ...base, scope: "this_and_following", occurrence_id: occurrence(7) });
    expect(await listRsvps({ meeting_uid: meeting.uid })).toHaveLength(3);
    const forOccurrence = await listRsvps({
      meeting_uid: meeting.uid,
      occurrence_id: occurrence(0),
    });
    expect(forOccurrence.map((r) => r.uid)).toEqual([single.uid]);
  });

  it("gets and deletes at a revision", async () => {
    const { meeting, registrant } = await meetingWithRegistrant();
    const rsvp = (
      await answer({
        meeting_uid: meeting.uid,
        registrant_uid: registrant.uid,
        response: "maybe",
        scope: "all",
      })
    ).body;
    expect(await ok(harness.client, "lfx.rsvps.get", { uid: rsvp.uid })).toEqual(rsvp);
    const stale = await request(harness.client, "lfx.rsvps.delete", {
      uid: rsvp.uid,
      revision: rsvp.revision + 100,
    });
    expect(stale.status).toBe(409);
    expect(
      await ok(harness.client, "lfx.rsvps.delete", { uid: rsvp.uid, revision: rsvp.revision }),
    ).toEqual({ uid: rsvp.uid, deleted: true });
    expect((await request(harness.client, "lfx.rsvps.get", { uid: rsvp.uid })).status).toBe(404);
    // The answer slot is free again: a new answer creates a new RSVP.
    const again = (
      await answer({
        meeting_uid: meeting.uid,
        registrant_uid: registrant.uid,
        response: "accepted",
        scope: "all",
      })
    ).body;
    expect(again.uid).not.toBe(rsvp.uid);
  });

  it("deleting the registrant deletes its RSVPs", async () => {
    const { meeting, registrant } = await meetingWithRegistrant();
    const rsvp = (
      await answer({
        meeting_uid: meeting.uid,
        registrant_uid: registrant.uid,
        response: "maybe",
        scope: "all",
      })
    ).body;
    await ok(harness.client, "lfx.registrants.delete", {
      uid: registrant.uid,
      revision: registrant.revision,
    });
    expect((await request(harness.client, "lfx.rsvps.get", { uid: rsvp.uid })).status).toBe(404);
    expect(await listRsvps({ meeting_uid: meeting.uid })).toHaveLength(0);
  });

  it("deleting the meeting deletes its RSVPs", async () => {
    const { meeting, registrant } = await meetingWithRegistrant();
    const rsvp = (
      await answer({
        meeting_uid: meeting.uid,
        registrant_uid: registrant.uid,
        response: "maybe",
        scope: "all",
      })
    ).body;
    const current = await ok<Entity>(harness.client, "lfx.meetings.get", { uid: meeting.uid });
    await ok(harness.client, "lfx.meetings.delete", {
      uid: meeting.uid,
      revision: current.revision,
    });
    expect((await request(harness.client, "lfx.rsvps.get", { uid: rsvp.uid })).status).toBe(404);
  });
});

describe("occurrences of RSVPs", () => {
  it("refuses an occurrence the meeting does not have", async () => {
    const { meeting, registrant } = await meetingWithRegistrant();
    const reply = await request<ErrorBody>(harness.client, "lfx.rsvps.create", {
      meeting_uid: meeting.uid,
      registrant_uid: registrant.uid,
      response: "accepted",
      scope: "single",
      occurrence_id: String(START_SECONDS + 3600),
    });
    expect(reply.status).toBe(400);
    expect(reply.body.error.details?.[0]?.path).toBe("/occurrence_id");
  });
});
