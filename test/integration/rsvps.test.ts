// RSVPs through the typed client (client/): requests and replies typed from schemas/, errors as
// MeetingServiceError. The other integration files use the raw request helpers of test/support.
import {
  createMeetingClient,
  MeetingServiceError,
  type MeetingClient,
  type MeetingsCreateRequest,
  type Rsvp,
  type RsvpsCreateRequest,
  type RsvpsListRequest,
} from "../../client/src/index.js";
import { meetingInput, uniqueEmail } from "../support/builders.js";
import { useServiceHarness } from "../support/harness.js";

const harness = useServiceHarness(2);
let api: MeetingClient;
beforeAll(() => {
  api = createMeetingClient(harness.client);
});

/** Occurrence ids of the daily meeting below: its start plus `days` days, in unix seconds. */
const START_SECONDS = Date.parse("2030-01-15T15:00:00Z") / 1000;
const occurrence = (days: number) => String(START_SECONDS + days * 86_400);

async function meetingWithRegistrant(fields: { username?: string } = {}) {
  const meeting = await api.meetings.create(
    meetingInput({
      start_time: "2030-01-15T15:00:00Z",
      timezone: "UTC",
      recurrence: { type: 1, repeat_interval: 1 },
    }) as unknown as MeetingsCreateRequest,
  );
  const registrant = await api.registrants.create({
    meeting_uid: meeting.uid,
    email: uniqueEmail(),
    ...fields,
  });
  return { meeting, registrant };
}

const answer = (body: RsvpsCreateRequest) => api.rsvps.create(body);

/** The error a call fails with (the test fails if it succeeds). */
async function failure(call: Promise<unknown>): Promise<MeetingServiceError> {
  const outcome = await call.then(
    (reply) => new Error(`expected a failure, got ${JSON.stringify(reply)}`),
    (err: unknown) => err,
  );
  if (!(outcome instanceof MeetingServiceError)) throw outcome;
  return outcome;
}

async function listRsvps(filter: Omit<RsvpsListRequest, "limit" | "cursor">): Promise<Rsvp[]> {
  const items: Rsvp[] = [];
  for await (const rsvp of api.items("lfx.rsvps.list", { ...filter, limit: 2 })) items.push(rsvp);
  return items;
}

describe("lfx.rsvps.create", () => {
  it("records the answer with the registrant's email and username", async () => {
    const { meeting, registrant } = await meetingWithRegistrant({ username: "ada" });
    const rsvp = await answer({
      meeting_uid: meeting.uid,
      registrant_uid: registrant.uid,
      response: "accepted",
      scope: "all",
    });
    expect(rsvp).toMatchObject({
      meeting_uid: meeting.uid,
      registrant_uid: registrant.uid,
      email: registrant.email,
      username: "ada",
      response: "accepted",
      scope: "all",
    });
    expect(rsvp).not.toHaveProperty("occurrence_id");
  });

  it("replaces the earlier answer of the same registrant, scope and occurrence", async () => {
    const { meeting, registrant } = await meetingWithRegistrant();
    const base = {
      meeting_uid: meeting.uid,
      registrant_uid: registrant.uid,
      scope: "single",
      occurrence_id: occurrence(0),
    } as const;
    const first = await answer({ ...base, response: "accepted" });
    const second = await answer({ ...base, response: "declined" });
    expect(second.uid).toBe(first.uid);
    expect(second.response).toBe("declined");
    expect(second.revision).toBeGreaterThan(first.revision);
    const { occurrence_id: _, ...withoutOccurrence } = base;
    const other = await answer({ ...withoutOccurrence, scope: "all", response: "maybe" });
    expect(other.uid).not.toBe(first.uid);
    expect(await listRsvps({ meeting_uid: meeting.uid })).toHaveLength(2);
  });

  it("keeps one RSVP when 10 answers race on two instances", async () => {
    const { meeting, registrant } = await meetingWithRegistrant();
    const responses = ["accepted", "declined", "maybe"] as const;
    const replies = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        answer({
          meeting_uid: meeting.uid,
          registrant_uid: registrant.uid,
          scope: "all",
          response: responses[i % 3] ?? "maybe",
        }),
      ),
    );
    expect(new Set(replies.map((r) => r.uid)).size).toBe(1);
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
    // Deliberately outside the request type: the service must refuse what the type would.
    const invalid = {
      meeting_uid: meeting.uid,
      registrant_uid: registrant.uid,
      response: "accepted",
      ...fields,
    } as RsvpsCreateRequest;
    const error = await failure(answer(invalid));
    expect([error.status, error.code]).toEqual([400, "invalid_request"]);
    expect(error.details?.map((d) => d.path)).toContain(path);
  });

  it("is a 404 for a registrant of another meeting, or none", async () => {
    const { registrant } = await meetingWithRegistrant();
    const { meeting: other } = await meetingWithRegistrant();
    const foreign = await failure(
      answer({
        meeting_uid: other.uid,
        registrant_uid: registrant.uid,
        response: "accepted",
        scope: "all",
      }),
    );
    expect([foreign.status, foreign.code]).toEqual([404, "not_found"]);
    const missing = await failure(
      answer({
        meeting_uid: other.uid,
        registrant_uid: "nobody",
        response: "accepted",
        scope: "all",
      }),
    );
    expect(missing.status).toBe(404);
  });
});

describe("lfx.rsvps.list, get and delete", () => {
  it("lists by meeting and by occurrence, page after page", async () => {
    const { meeting, registrant } = await meetingWithRegistrant();
    const base = {
      meeting_uid: meeting.uid,
      registrant_uid: registrant.uid,
      response: "accepted",
    } as const;
    await answer({ ...base, scope: "all" });
    const single = await answer({ ...base, scope: "single", occurrence_id: occurrence(0) });
    await answer({ ...base, scope: "this_and_following", occurrence_id: occurrence(7) });
    const pages = [];
    for await (const page of api.pages("lfx.rsvps.list", { meeting_uid: meeting.uid, limit: 2 })) {
      pages.push(page);
    }
    expect(pages.map((p) => p.items.length)).toEqual([2, 1]);
    expect(pages.map((p) => p.next_cursor === null)).toEqual([false, true]);
    expect(await listRsvps({ meeting_uid: meeting.uid })).toHaveLength(3);
    const forOccurrence = await listRsvps({
      meeting_uid: meeting.uid,
      occurrence_id: occurrence(0),
    });
    expect(forOccurrence.map((r) => r.uid)).toEqual([single.uid]);
  });

  it("gets and deletes at a revision", async () => {
    const { meeting, registrant } = await meetingWithRegistrant();
    const rsvp = await answer({
      meeting_uid: meeting.uid,
      registrant_uid: registrant.uid,
      response: "maybe",
      scope: "all",
    });
    expect(await api.rsvps.get({ uid: rsvp.uid })).toEqual(rsvp);
    const stale = await failure(api.rsvps.delete({ uid: rsvp.uid, revision: rsvp.revision + 100 }));
    expect([stale.status, stale.code]).toEqual([409, "conflict"]);
    expect(await api.rsvps.delete({ uid: rsvp.uid, revision: rsvp.revision })).toEqual({
      uid: rsvp.uid,
      deleted: true,
    });
    expect((await failure(api.rsvps.get({ uid: rsvp.uid }))).status).toBe(404);
    // The answer slot is free again: a new answer creates a new RSVP.
    const again = await answer({
      meeting_uid: meeting.uid,
      registrant_uid: registrant.uid,
      response: "accepted",
      scope: "all",
    });
    expect(again.uid).not.toBe(rsvp.uid);
  });

  it("deleting the registrant deletes its RSVPs", async () => {
    const { meeting, registrant } = await meetingWithRegistrant();
    const rsvp = await answer({
      meeting_uid: meeting.uid,
      registrant_uid: registrant.uid,
      response: "maybe",
      scope: "all",
    });
    await api.registrants.delete({ uid: registrant.uid, revision: registrant.revision });
    expect((await failure(api.rsvps.get({ uid: rsvp.uid }))).status).toBe(404);
    expect(await listRsvps({ meeting_uid: meeting.uid })).toHaveLength(0);
  });

  it("deleting the meeting deletes its RSVPs", async () => {
    const { meeting, registrant } = await meetingWithRegistrant();
    const rsvp = await answer({
      meeting_uid: meeting.uid,
      registrant_uid: registrant.uid,
      response: "maybe",
      scope: "all",
    });
    const current = await api.meetings.get({ uid: meeting.uid });
    await api.meetings.delete({ uid: meeting.uid, revision: current.revision });
    expect((await failure(api.rsvps.get({ uid: rsvp.uid }))).status).toBe(404);
  });
});

describe("occurrences of RSVPs", () => {
  it("refuses an occurrence the meeting does not have", async () => {
    const { meeting, registrant } = await meetingWithRegistrant();
    const error = await failure(
      answer({
        meeting_uid: meeting.uid,
        registrant_uid: registrant.uid,
        response: "accepted",
        scope: "single",
        occurrence_id: String(START_SECONDS + 3600),
      }),
    );
    expect(error.status).toBe(400);
    expect(error.details?.[0]?.path).toBe("/occurrence_id");
  });
});
