// lfx.occurrences.update over NATS (docs/CONTRACT.md §12): replies, lists, errors, counts that stay
// attached, past-meetings.start, events, and concurrent edits of one meeting.
import fc from "fast-check";
import {
  applyOccurrenceEdit,
  editedOccurrencesBetween,
  type EditableMeeting,
  type OccurrenceChange,
} from "../../src/domain/occurrence-edits.js";
import { AppError } from "../../src/errors.js";
import { meetingInput, uniqueEmail } from "../support/builders.js";
import { listAllPages, ok, request } from "../support/request.js";
import { useServiceHarness } from "../support/harness.js";
import { until } from "../support/until.js";

interface Occurrence {
  occurrence_id: string;
  start_time: string;
  duration: number;
  title: string;
  description?: string;
  is_cancelled: boolean;
  registrant_count: number;
  response_count_yes: number;
  response_count_no: number;
  response_count_maybe: number;
}
interface Meeting {
  uid: string;
  revision: number;
  start_time: string;
  title: string;
  series_end_date?: string;
  occurrences: Occurrence[];
}
interface ErrorBody {
  error: { status: number; code: string; details?: { path: string }[] };
}

const harness = useServiceHarness(1);

const seconds = (iso: string) => String(Date.parse(iso) / 1000);

/** Tuesdays 10:00 New York, five times from 2030-03-05 (DST begins on 2030-03-10). */
const weekly = {
  start_time: "2030-03-05T15:00:00Z",
  duration: 30,
  timezone: "America/New_York",
  recurrence: { type: 2, repeat_interval: 1, end_times: 5 },
};
const STARTS = [
  "2030-03-05T15:00:00.000Z",
  "2030-03-12T14:00:00.000Z",
  "2030-03-19T14:00:00.000Z",
  "2030-03-26T14:00:00.000Z",
  "2030-04-02T14:00:00.000Z",
];
const IDS = STARTS.map(seconds);
const id = (k: number) => IDS[k]!;

const createMeeting = (fields: Record<string, unknown> = weekly) =>
  ok<Meeting>(harness.client, "lfx.meetings.create", meetingInput(fields));
const update = (meeting: Meeting, fields: object) =>
  request<Meeting & ErrorBody>(harness.client, "lfx.occurrences.update", {
    meeting_uid: meeting.uid,
    revision: meeting.revision,
    ...fields,
  });
const list = (meetingUid: string, fields: Record<string, unknown> = {}, limit = 100) =>
  listAllPages<Occurrence>(
    harness.client,
    "lfx.occurrences.list",
    { meeting_uid: meetingUid, from: "2030-01-01T00:00:00Z", ...fields },
    { limit },
  );

describe("lfx.occurrences.update", () => {
  it("moves one occurrence, which keeps its id, in the meeting and in lists", async () => {
    const meeting = await createMeeting();
    const reply = await update(meeting, {
      occurrence_id: id(2),
      scope: "single",
      start_time: "2030-03-20T16:00:00Z",
      duration: 60,
      title: "Moved",
      description: "An hour, on Wednesday",
    });
    expect(reply.status).toBe(200);
    expect(reply.body.revision).toBeGreaterThan(meeting.revision);
    expect(reply.body).not.toHaveProperty("occurrence_edits");
    expect(reply.body.occurrences[2]).toMatchObject({
      occurrence_id: id(2),
      start_time: "2030-03-20T16:00:00.000Z",
      duration: 60,
      title: "Moved",
      description: "An hour, on Wednesday",
    });
    expect(reply.body.occurrences.map((o) => o.occurrence_id)).toEqual(IDS);
    expect(reply.body.start_time).toBe(meeting.start_time);

    const listed = await list(meeting.uid, {}, 2);
    expect(listed.map((o) => o.start_time)).toEqual([
      ...STARTS.slice(0, 2),
      "2030-03-20T16:00:00.000Z",
      ...STARTS.slice(3),
    ]);
    // from/to apply to the edited start.
    const window = await list(meeting.uid, {
      from: "2030-03-19T15:00:00Z",
      to: "2030-03-21T00:00:00Z",
    });
    expect(window.map((o) => o.occurrence_id)).toEqual([id(2)]);
  });

  it("from the first occurrence changes the series, start_time and series_end_date included", async () => {
    const meeting = await createMeeting();
    const reply = await update(meeting, {
      occurrence_id: id(0),
      scope: "this_and_following",
      start_time: "2030-03-05T15:30:00Z",
      title: "Renamed",
    });
    expect(reply.status).toBe(200);
    expect(reply.body.start_time).toBe("2030-03-05T15:30:00Z");
    expect(reply.body.title).toBe("Renamed");
    expect(reply.body.series_end_date).toBe("2030-04-02T15:00:00.000Z");
    expect(reply.body.occurrences.map((o) => [o.occurrence_id, o.start_time, o.title])).toEqual(
      STARTS.map((s, k) => [id(k), new Date(Date.parse(s) + 30 * 60_000).toISOString(), "Renamed"]),
    );
  });

  it("answers each error with its status and field", async () => {
    const meeting = await createMeeting();
    const cancelled = await ok<Meeting>(harness.client, "lfx.occurrences.cancel", {
      meeting_uid: meeting.uid,
      occurrence_id: id(1),
      revision: meeting.revision,
    });
    const expectError = async (
      reply: Promise<{ status: number; body: ErrorBody }>,
      status: number,
      path?: string,
    ) => {
      const { status: got, body } = await reply;
      expect([got, body.error.status]).toEqual([status, status]);
      if (path !== undefined) expect(body.error.details?.map((d) => d.path)).toContain(path);
    };
    await expectError(update(meeting, { occurrence_id: id(2), scope: "single", title: "x" }), 409);
    await expectError(
      update(cancelled, { occurrence_id: id(1), scope: "single", title: "x" }),
      404,
    );
    await expectError(
      update(cancelled, { occurrence_id: String(Number(id(2)) + 60), scope: "single", title: "x" }),
      404,
    );
    await expectError(
      update({ ...cancelled, uid: "no-such-meeting" }, { occurrence_id: id(2), scope: "single" }),
      404,
    );
    await expectError(update(cancelled, { occurrence_id: id(2), title: "x" }), 400, "/scope");
    await expectError(
      update(cancelled, { occurrence_id: id(2), scope: "all", title: "x" }),
      400,
      "/scope",
    );
    // Before the previous occurrence (the cancelled one still holds its place), after the next.
    await expectError(
      update(cancelled, {
        occurrence_id: id(2),
        scope: "single",
        start_time: "2030-03-12T13:00:00Z",
      }),
      400,
      "/start_time",
    );
    await expectError(
      update(cancelled, {
        occurrence_id: id(2),
        scope: "this_and_following",
        start_time: "2030-03-26T14:00:00Z",
      }),
      400,
      "/start_time",
    );
    await expectError(
      update(cancelled, {
        occurrence_id: id(2),
        scope: "single",
        start_time: "2030-03-27T14:00:00Z",
      }),
      400,
      "/start_time",
    );
    await expectError(
      update(cancelled, {
        occurrence_id: id(2),
        scope: "single",
        start_time: "2020-01-01T00:00:00Z",
      }),
      400,
      "/start_time",
    );
    // Nothing above changed the meeting.
    const after = await ok<Meeting>(harness.client, "lfx.meetings.get", { uid: meeting.uid });
    expect(after.revision).toBe(cancelled.revision);
  });

  it("keeps registrants and RSVPs of a moved occurrence attached, with their counts", async () => {
    const meeting = await createMeeting();
    const registrant = await ok<{ uid: string }>(harness.client, "lfx.registrants.create", {
      meeting_uid: meeting.uid,
      email: uniqueEmail(),
      occurrence_id: id(3),
    });
    await ok(harness.client, "lfx.rsvps.create", {
      meeting_uid: meeting.uid,
      registrant_uid: registrant.uid,
      scope: "single",
      response: "accepted",
      occurrence_id: id(3),
    });
    const current = await ok<Meeting>(harness.client, "lfx.meetings.get", { uid: meeting.uid });
    const reply = await update(current, {
      occurrence_id: id(3),
      scope: "this_and_following",
      start_time: "2030-03-27T14:00:00Z",
    });
    expect(reply.status).toBe(200);
    const moved = reply.body.occurrences[3]!;
    expect(moved).toMatchObject({
      occurrence_id: id(3),
      start_time: "2030-03-27T14:00:00.000Z",
      registrant_count: 1,
      response_count_yes: 1,
    });
    expect(reply.body.occurrences[4]?.start_time).toBe("2030-04-03T14:00:00.000Z");
    const [listed] = await list(meeting.uid, { from: "2030-03-27T00:00:00Z" }, 1);
    expect(listed).toEqual(moved);
    // A new registration still names the occurrence by its id.
    const another = await request(harness.client, "lfx.registrants.create", {
      meeting_uid: meeting.uid,
      email: uniqueEmail(),
      occurrence_id: id(3),
    });
    expect(another.status).toBe(200);
  });

  it("starts the past meeting of the occurrence nearest by edited start, with its edited times", async () => {
    const meeting = await createMeeting();
    const reply = await update(meeting, {
      occurrence_id: id(2),
      scope: "single",
      start_time: "2030-03-25T14:00:00Z",
      duration: 90,
      title: "Moved",
    });
    expect(reply.status).toBe(200);
    const past = await ok<Record<string, unknown>>(harness.client, "lfx.past-meetings.start", {
      meeting_uid: meeting.uid,
      started_at: "2030-03-25T14:05:00Z",
    });
    expect(past).toMatchObject({
      occurrence_id: id(2),
      scheduled_start_time: "2030-03-25T14:00:00Z",
      scheduled_end_time: "2030-03-25T15:30:00Z",
      title: "Moved",
      duration: 90,
    });
  });

  it("publishes the meeting's update with its edited occurrences", async () => {
    const events: { uid: string; revision: number; data: { occurrences?: Occurrence[] } }[] = [];
    const sub = harness.client.subscribe("lfx.events.meetings.updated", {
      callback: (err, msg) => {
        if (err === null) events.push(msg.json());
      },
    });
    await harness.client.flush();
    try {
      const meeting = await createMeeting();
      const reply = await update(meeting, { occurrence_id: id(4), scope: "single", title: "Last" });
      expect(reply.status).toBe(200);
      const event = await until(() =>
        events.find((e) => e.uid === meeting.uid && e.revision === reply.body.revision),
      );
      expect(event.data.occurrences?.[4]?.title).toBe("Last");
      expect(event.data).not.toHaveProperty("occurrence_edits");
    } finally {
      sub.unsubscribe();
    }
  });

  it("stay through a meetings.update of other fields, and go with a new schedule", async () => {
    const meeting = await createMeeting();
    const edited = await update(meeting, { occurrence_id: id(1), scope: "single", title: "Own" });
    expect(edited.status).toBe(200);
    const renamed = await ok<Meeting>(harness.client, "lfx.meetings.update", {
      uid: meeting.uid,
      revision: edited.body.revision,
      title: "Renamed",
    });
    expect(renamed.occurrences.map((o) => o.title)).toEqual([
      "Renamed",
      "Own",
      "Renamed",
      "Renamed",
      "Renamed",
    ]);
    const rescheduled = await ok<Meeting>(harness.client, "lfx.meetings.update", {
      uid: meeting.uid,
      revision: renamed.revision,
      start_time: "2030-03-06T15:00:00Z",
    });
    expect(rescheduled.occurrences.map((o) => o.title)).toEqual(Array(5).fill("Renamed"));
    expect(rescheduled.occurrences[0]?.occurrence_id).toBe(seconds("2030-03-06T15:00:00Z"));
  });

  it("of 50 concurrent edits, each succeeds or is a 409, and every success is kept", async () => {
    const meeting = await createMeeting({
      ...weekly,
      recurrence: { type: 1, repeat_interval: 1, end_times: 60 },
    });
    const targets = (await list(meeting.uid)).slice(0, 50).map((o) => o.occurrence_id);
    // Each edit reads the meeting and edits its own occurrence at the revision it read, all at
    // once: reads and writes interleave, so some succeed one after another and others conflict.
    const replies = await Promise.all(
      targets.map(async (occurrenceId) => {
        const current = await ok<Meeting>(harness.client, "lfx.meetings.get", {
          uid: meeting.uid,
        });
        return update(current, {
          occurrence_id: occurrenceId,
          scope: "single",
          title: `Edited ${occurrenceId}`,
        });
      }),
    );
    const successes = new Set<string>();
    replies.forEach((reply, k) => {
      expect([200, 409]).toContain(reply.status);
      if (reply.status === 200) successes.add(targets[k]!);
    });
    expect(successes.size).toBeGreaterThanOrEqual(1);
    const edited = (await list(meeting.uid))
      .filter((o) => o.title.startsWith("Edited"))
      .map((o) => o.occurrence_id);
    expect(new Set(edited)).toEqual(successes);
    // Every success got its own revision: none was written over another.
    const revisions = replies.filter((r) => r.status === 200).map((r) => r.body.revision);
    expect(new Set(revisions).size).toBe(successes.size);
  });

  it("lists, for random series and edits, what the rule plus the stored edits give", async () => {
    // The domain is checked against an independent reference (test/unit/occurrence-edits.test.ts);
    // this checks the way through NATS: the stored edits, paging, from/to, cancellations.
    const series = fc.record({
      timezone: fc.constantFrom("America/New_York", "Europe/Berlin"),
      start_time: fc.constantFrom("2030-03-08T14:30:00Z", "2030-10-24T08:00:00Z"),
      recurrence: fc.record({
        type: fc.constantFrom(1 as const, 2 as const),
        repeat_interval: fc.integer({ min: 1, max: 2 }),
        end_times: fc.integer({ min: 2, max: 8 }),
      }),
    });
    const edits = fc.array(
      fc.record({
        at: fc.nat(),
        cancel: fc.boolean(),
        scope: fc.constantFrom("single" as const, "this_and_following" as const),
        moveMinutes: fc.option(fc.integer({ min: -600, max: 600 }), { nil: undefined }),
        title: fc.option(fc.constantFrom("A", "B"), { nil: undefined }),
      }),
      { minLength: 1, maxLength: 5 },
    );
    await fc.assert(
      fc.asyncProperty(series, edits, async (fields, steps) => {
        let meeting = await createMeeting({ ...fields, duration: 30, title: "TSC" });
        let local: EditableMeeting = { ...fields, duration: 30, title: "TSC" };
        for (const step of steps) {
          const shown = await list(meeting.uid, { include_cancelled: true });
          const target = shown[step.at % shown.length]!;
          if (step.cancel) {
            const reply = await request<Meeting>(harness.client, "lfx.occurrences.cancel", {
              meeting_uid: meeting.uid,
              occurrence_id: target.occurrence_id,
              revision: meeting.revision,
            });
            expect(reply.status).toBe(200);
            meeting = reply.body;
            local = {
              ...local,
              cancelled_occurrences: [
                ...new Set([...(local.cancelled_occurrences ?? []), target.occurrence_id]),
              ],
            };
            continue;
          }
          const change: OccurrenceChange = {
            occurrence_id: target.occurrence_id,
            scope: step.scope,
            ...(step.moveMinutes === undefined
              ? {}
              : {
                  start_time: new Date(
                    Date.parse(target.start_time) + step.moveMinutes * 60_000,
                  ).toISOString(),
                }),
            ...(step.title === undefined ? {} : { title: step.title }),
          };
          let expected: EditableMeeting | number;
          try {
            expected = applyOccurrenceEdit(local, change, Date.now());
          } catch (err) {
            if (!(err instanceof AppError)) throw err;
            expected = err.status;
          }
          const reply = await update(meeting, change);
          if (typeof expected === "number") {
            expect(reply.status).toBe(expected);
          } else {
            expect(reply.status).toBe(200);
            meeting = reply.body;
            local = expected;
          }
        }
        const listed = await list(meeting.uid, { include_cancelled: true }, 3);
        const reference = editedOccurrencesBetween(local, {
          from: Date.parse("2030-01-01T00:00:00Z"),
          limit: 100,
        });
        expect(listed.map((o) => [o.occurrence_id, o.start_time, o.title, o.is_cancelled])).toEqual(
          reference.map((o) => [o.occurrence_id, o.start_time, o.title, o.is_cancelled]),
        );
        const starts = listed.map((o) => Date.parse(o.start_time));
        expect(starts).toEqual([...starts].sort((a, b) => a - b));
      }),
      { numRuns: 10 },
    );
  });
});
