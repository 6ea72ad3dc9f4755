import { meetingInput, uniqueEmail } from "../support/builders.js";
import { ok, type Page, request } from "../support/request.js";
import { useServiceHarness } from "../support/harness.js";

interface Occurrence {
  occurrence_id: string;
  start_time: string;
  duration: number;
  title: string;
  is_cancelled: boolean;
  registrant_count: number;
  response_count_yes: number;
  response_count_no: number;
  response_count_maybe: number;
}
interface Meeting {
  uid: string;
  revision: number;
  series_end_date?: string;
  occurrences: Occurrence[];
}
interface ErrorBody {
  error: { code: string; details?: { path: string }[] };
}

const harness = useServiceHarness(1);

const seconds = (iso: string) => String(Date.parse(iso) / 1000);

/** Weekly on Tuesdays at 10:00 New York time, five times, from 2030-03-05 (across the DST change). */
const weekly = {
  start_time: "2030-03-05T15:00:00Z",
  duration: 30,
  timezone: "America/New_York",
  recurrence: { type: 2, repeat_interval: 1, weekly_days: "3", end_times: 5 },
};
const WEEKLY_STARTS = [
  "2030-03-05T15:00:00.000Z",
  "2030-03-12T14:00:00.000Z", // DST began on 2030-03-10: 10:00 local is now 14:00 UTC
  "2030-03-19T14:00:00.000Z",
  "2030-03-26T14:00:00.000Z",
  "2030-04-02T14:00:00.000Z",
];

const createMeeting = (fields: Record<string, unknown>) =>
  ok<Meeting>(harness.client, "lfx.meetings.create", meetingInput(fields));

describe("meeting occurrences", () => {
  it("are computed in the meeting's time zone, with the series end", async () => {
    const meeting = await createMeeting(weekly);
    expect(meeting.occurrences.map((o) => o.start_time)).toEqual(WEEKLY_STARTS);
    expect(meeting.occurrences[0]).toEqual({
      occurrence_id: seconds(WEEKLY_STARTS[0]!),
      start_time: WEEKLY_STARTS[0],
      duration: 30,
      title: "Technical Steering Committee",
      is_cancelled: false,
      registrant_count: 0,
      response_count_yes: 0,
      response_count_no: 0,
      response_count_maybe: 0,
    });
    expect(meeting.series_end_date).toBe("2030-04-02T14:30:00.000Z");
  });

  it("are one for a meeting without recurrence, and none are left out for an endless series", async () => {
    const single = await createMeeting({ start_time: "2030-06-01T12:00:00Z", duration: 45 });
    expect(single.occurrences.map((o) => o.occurrence_id)).toEqual([
      seconds("2030-06-01T12:00:00Z"),
    ]);
    const endless = await createMeeting({ ...weekly, recurrence: { type: 1, repeat_interval: 1 } });
    expect(endless.occurrences).toHaveLength(50);
    expect(endless).not.toHaveProperty("series_end_date");
  });

  it("follow an update of the schedule", async () => {
    const meeting = await createMeeting(weekly);
    const updated = await ok<Meeting>(harness.client, "lfx.meetings.update", {
      uid: meeting.uid,
      revision: meeting.revision,
      recurrence: { type: 2, repeat_interval: 2, weekly_days: "3", end_times: 2 },
    });
    expect(updated.occurrences.map((o) => o.start_time)).toEqual([
      WEEKLY_STARTS[0],
      WEEKLY_STARTS[2],
    ]);
    expect(updated.series_end_date).toBe("2030-03-19T14:30:00.000Z");
  });

  it("refuses a recurrence that yields no occurrence", async () => {
    const reply = await request<ErrorBody>(
      harness.client,
      "lfx.meetings.create",
      meetingInput({
        ...weekly,
        recurrence: { type: 1, repeat_interval: 1, end_date_time: "2030-03-01T00:00:00Z" },
      }),
    );
    expect(reply.status).toBe(400);
    expect(reply.body.error.details?.[0]?.path).toBe("/recurrence");
  });

  it("count registrants and applicable RSVP answers per occurrence", async () => {
    const meeting = await createMeeting(weekly);
    const [first, second] = [seconds(WEEKLY_STARTS[0]!), seconds(WEEKLY_STARTS[1]!)];
    const forAll = await ok<{ uid: string }>(harness.client, "lfx.registrants.create", {
      meeting_uid: meeting.uid,
      email: uniqueEmail(),
    });
    const forFirst = await ok<{ uid: string }>(harness.client, "lfx.registrants.create", {
      meeting_uid: meeting.uid,
      email: uniqueEmail(),
      occurrence_id: first,
    });
    const answer = (registrant: string, scope: string, response: string, occurrence_id?: string) =>
      ok(harness.client, "lfx.rsvps.create", {
        meeting_uid: meeting.uid,
        registrant_uid: registrant,
        scope,
        response,
        ...(occurrence_id === undefined ? {} : { occurrence_id }),
      });
    await answer(forAll.uid, "all", "accepted");
    await answer(forAll.uid, "this_and_following", "declined", second);
    await answer(forFirst.uid, "single", "maybe", first);

    const shown = await ok<Meeting>(harness.client, "lfx.meetings.get", { uid: meeting.uid });
    const counts = shown.occurrences.map((o) => [
      o.registrant_count,
      o.response_count_yes,
      o.response_count_no,
      o.response_count_maybe,
    ]);
    expect(counts).toEqual([
      [2, 1, 0, 1],
      [1, 0, 1, 0],
      [1, 0, 1, 0],
      [1, 0, 1, 0],
      [1, 0, 1, 0],
    ]);
  });

  it("refuse a registrant for an occurrence the meeting does not have", async () => {
    const meeting = await createMeeting(weekly);
    const reply = await request<ErrorBody>(harness.client, "lfx.registrants.create", {
      meeting_uid: meeting.uid,
      email: uniqueEmail(),
      occurrence_id: seconds("2030-03-06T15:00:00Z"),
    });
    expect(reply.status).toBe(400);
    expect(reply.body.error.details?.[0]?.path).toBe("/occurrence_id");
  });
});

describe("lfx.occurrences.list", () => {
  it("lists starts in [from, to) in order, page by page", async () => {
    const meeting = await createMeeting(weekly);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Page<Occurrence> = await ok<Page<Occurrence>>(
        harness.client,
        "lfx.occurrences.list",
        {
          meeting_uid: meeting.uid,
          from: "2030-03-12T14:00:00Z",
          to: "2030-04-02T14:00:00Z",
          limit: 2,
          ...(cursor === null ? {} : { cursor }),
        },
      );
      seen.push(...page.items.map((o) => o.start_time));
      cursor = page.next_cursor;
    } while (cursor !== null);
    expect(seen).toEqual(WEEKLY_STARTS.slice(1, 4));
  });

  it("defaults from to now", async () => {
    const past = await createMeeting({ ...weekly, start_time: "2020-03-03T15:00:00Z" });
    const page = await ok<Page<Occurrence>>(harness.client, "lfx.occurrences.list", {
      meeting_uid: past.uid,
    });
    expect(page.items).toEqual([]);
    expect(page.next_cursor).toBeNull();
  });

  it("is a 404 for an unknown meeting and a 400 for to before from", async () => {
    expect(
      (await request(harness.client, "lfx.occurrences.list", { meeting_uid: "nope" })).status,
    ).toBe(404);
    const meeting = await createMeeting(weekly);
    const reply = await request<ErrorBody>(harness.client, "lfx.occurrences.list", {
      meeting_uid: meeting.uid,
      from: "2030-04-01T00:00:00Z",
      to: "2030-03-01T00:00:00Z",
    });
    expect(reply.status).toBe(400);
    expect(reply.body.error.details?.[0]?.path).toBe("/to");
  });
});

describe("lfx.occurrences.cancel", () => {
  it("cancels one occurrence at the meeting's revision", async () => {
    const meeting = await createMeeting(weekly);
    const target = seconds(WEEKLY_STARTS[1]!);
    const cancelled = await ok<Meeting>(harness.client, "lfx.occurrences.cancel", {
      meeting_uid: meeting.uid,
      occurrence_id: target,
      revision: meeting.revision,
    });
    expect(cancelled.revision).toBeGreaterThan(meeting.revision);
    expect(cancelled.occurrences.map((o) => o.occurrence_id)).not.toContain(target);
    expect(cancelled.occurrences).toHaveLength(4);
    expect(cancelled).not.toHaveProperty("cancelled_occurrences");

    const all = await ok<Page<Occurrence>>(harness.client, "lfx.occurrences.list", {
      meeting_uid: meeting.uid,
      from: "2030-01-01T00:00:00Z",
      include_cancelled: true,
    });
    expect(all.items.filter((o) => o.is_cancelled).map((o) => o.occurrence_id)).toEqual([target]);
    const shown = await ok<Page<Occurrence>>(harness.client, "lfx.occurrences.list", {
      meeting_uid: meeting.uid,
      from: "2030-01-01T00:00:00Z",
    });
    expect(shown.items).toHaveLength(4);
  });

  it("is a 404 for an id that is not an occurrence, and a 409 on a stale revision", async () => {
    const meeting = await createMeeting(weekly);
    const notOne = await request(harness.client, "lfx.occurrences.cancel", {
      meeting_uid: meeting.uid,
      occurrence_id: seconds("2030-03-06T15:00:00Z"),
      revision: meeting.revision,
    });
    expect(notOne.status).toBe(404);
    await ok(harness.client, "lfx.meetings.update", {
      uid: meeting.uid,
      revision: meeting.revision,
      title: "moved on",
    });
    const stale = await request(harness.client, "lfx.occurrences.cancel", {
      meeting_uid: meeting.uid,
      occurrence_id: seconds(WEEKLY_STARTS[0]!),
      revision: meeting.revision,
    });
    expect(stale.status).toBe(409);
  });
});
