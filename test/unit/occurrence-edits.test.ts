import fc from "fast-check";
import { DateTime } from "luxon";
import {
  MAX_EDITED_OCCURRENCES,
  applyOccurrenceEdit,
  editedOccurrenceOf,
  editedOccurrencesBetween,
  editedOccurrencesNotEnded,
  editedSeries,
  editedSeriesEndDate,
  nearestEditedOccurrence,
  type EditableMeeting,
  type EditedOccurrence,
  type OccurrenceChange,
} from "../../src/domain/occurrence-edits.js";
import {
  instantOfWallClock,
  occurrencesBetween,
  wallClockOf,
} from "../../src/domain/occurrences.js";
import { AppError } from "../../src/errors.js";
import type { Recurrence } from "../../src/generated/schema-types.js";

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** Before every series below: no edit is in the past unless a test says so. */
const NOW = Date.parse("2029-01-01T00:00:00Z");

function meeting(
  start_time: string,
  timezone: string,
  recurrence?: Recurrence,
  extra: Partial<EditableMeeting> = {},
): EditableMeeting {
  return { title: "TSC", duration: 30, start_time, timezone, recurrence, ...extra };
}

const all = (m: EditableMeeting, skipCancelled = true) =>
  editedOccurrencesBetween(m, { limit: 1000, skipCancelled });
const startsOf = (m: EditableMeeting) => all(m).map((o) => o.start_time);
const idsOf = (m: EditableMeeting) => all(m).map((o) => o.occurrence_id);

function errorOf(run: () => unknown): { status: number; path: string | undefined } | undefined {
  try {
    run();
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    return { status: err.status, path: err.details?.[0]?.path };
  }
  return undefined;
}

/** Tuesdays 10:00 New York, 5 times from 2030-03-05; DST begins Sunday 2030-03-10. */
const newYorkWeekly = meeting("2030-03-05T15:00:00Z", "America/New_York", {
  type: 2,
  repeat_interval: 1,
  end_times: 5,
});
const NY_STARTS = [
  "2030-03-05T15:00:00.000Z",
  "2030-03-12T14:00:00.000Z",
  "2030-03-19T14:00:00.000Z",
  "2030-03-26T14:00:00.000Z",
  "2030-04-02T14:00:00.000Z",
];
const NY_IDS = NY_STARTS.map((s) => String(Date.parse(s) / 1000));
const id = (k: number) => NY_IDS[k]!;

describe("applyOccurrenceEdit, single", () => {
  it("moves one occurrence, which keeps its id and its place", () => {
    const edited = applyOccurrenceEdit(
      newYorkWeekly,
      { occurrence_id: id(2), scope: "single", start_time: "2030-03-20T14:00:00Z", title: "Moved" },
      NOW,
    );
    expect(idsOf(edited)).toEqual(NY_IDS);
    expect(startsOf(edited)).toEqual([
      ...NY_STARTS.slice(0, 2),
      "2030-03-20T14:00:00.000Z",
      ...NY_STARTS.slice(3),
    ]);
    expect(all(edited)[2]).toMatchObject({ title: "Moved", duration: 30, is_edited: true });
    expect(all(edited)[3]).toMatchObject({ title: "TSC", is_edited: false });
    expect(edited.start_time).toBe(newYorkWeekly.start_time);
  });

  it("refuses a start at or before the previous occurrence, at or after the next, or in the past", () => {
    const move = (start_time: string, now = NOW) =>
      errorOf(() =>
        applyOccurrenceEdit(
          newYorkWeekly,
          { occurrence_id: id(2), scope: "single", start_time },
          now,
        ),
      );
    expect(move(NY_STARTS[1]!)).toEqual({ status: 400, path: "/start_time" });
    expect(move(NY_STARTS[3]!)).toEqual({ status: 400, path: "/start_time" });
    expect(move("2030-03-12T14:00:01Z")).toBeUndefined();
    expect(move("2030-03-26T13:59:59Z")).toBeUndefined();
    expect(move("2030-03-20T14:00:00Z", Date.parse("2030-03-21T00:00:00Z"))).toEqual({
      status: 400,
      path: "/start_time",
    });
  });

  it("is a 404 for an unknown or cancelled occurrence", () => {
    const cancelled = { ...newYorkWeekly, cancelled_occurrences: [id(1)] };
    const edit = (m: EditableMeeting, occurrence_id: string) =>
      errorOf(() => applyOccurrenceEdit(m, { occurrence_id, scope: "single", title: "x" }, NOW));
    expect(edit(cancelled, id(1))).toEqual({ status: 404, path: undefined });
    expect(edit(cancelled, String(Number(id(1)) + 1))).toEqual({ status: 404, path: undefined });
    expect(edit(cancelled, id(2))).toBeUndefined();
  });

  it(`keeps at most ${MAX_EDITED_OCCURRENCES} edits`, () => {
    let m = meeting("2030-01-01T10:00:00Z", "UTC", { type: 1, repeat_interval: 1 });
    const ids = editedOccurrencesBetween(m, { limit: MAX_EDITED_OCCURRENCES + 1 }).map(
      (o) => o.occurrence_id,
    );
    for (const occurrence_id of ids.slice(0, MAX_EDITED_OCCURRENCES)) {
      m = applyOccurrenceEdit(m, { occurrence_id, scope: "single", duration: 45 }, NOW);
    }
    expect(m.occurrence_edits?.single).toHaveLength(MAX_EDITED_OCCURRENCES);
    // Editing an edited occurrence again adds nothing; a new one is one too many.
    expect(
      errorOf(() =>
        applyOccurrenceEdit(m, { occurrence_id: ids[0]!, scope: "single", duration: 50 }, NOW),
      ),
    ).toBeUndefined();
    expect(
      errorOf(() =>
        applyOccurrenceEdit(
          m,
          { occurrence_id: ids[MAX_EDITED_OCCURRENCES]!, scope: "single", duration: 50 },
          NOW,
        ),
      ),
    ).toEqual({ status: 400, path: "/occurrence_id" });
  });
});

describe("applyOccurrenceEdit, this_and_following", () => {
  it("moves later occurrences by the same local time across a DST change (New York)", () => {
    // From the first: 10:00 EST -> 11:00 EST moves every Tuesday to 11:00 local.
    const edited = applyOccurrenceEdit(
      newYorkWeekly,
      { occurrence_id: id(0), scope: "this_and_following", start_time: "2030-03-05T16:00:00Z" },
      NOW,
    );
    expect(startsOf(edited)).toEqual(
      NY_STARTS.map((s) => new Date(Date.parse(s) + HOUR_MS).toISOString()),
    );
    expect(idsOf(edited)).toEqual(NY_IDS);
    // From the first occurrence it is the series: start_time moves, the rule does not.
    expect(edited.start_time).toBe("2030-03-05T16:00:00Z");
    expect(editedSeriesEndDate(edited)).toBe("2030-04-02T15:30:00.000Z");
  });

  it("moves by local days and hours in Berlin's DST week, and changes the fields", () => {
    // Daily 09:00 Berlin from Friday 2030-03-29; clocks go forward on Sunday 2030-03-31.
    const daily = meeting("2030-03-29T08:00:00Z", "Europe/Berlin", {
      type: 1,
      repeat_interval: 1,
      end_times: 6,
    });
    const ids = idsOf(daily);
    // Saturday's occurrence moves to Saturday 08:30 local: 30 minutes earlier from then on.
    const edited = applyOccurrenceEdit(
      daily,
      {
        occurrence_id: ids[1]!,
        scope: "this_and_following",
        start_time: "2030-03-30T07:30:00Z",
        duration: 60,
        title: "Earlier",
      },
      NOW,
    );
    const local = all(edited).map((o) =>
      DateTime.fromISO(o.start_time, { zone: "Europe/Berlin" }).toFormat("MM-dd HH:mm"),
    );
    expect(local).toEqual([
      "03-29 09:00",
      "03-30 08:30",
      "03-31 08:30",
      "04-01 08:30",
      "04-02 08:30",
      "04-03 08:30",
    ]);
    expect(all(edited).map((o) => [o.title, o.duration])).toEqual([
      ["TSC", 30],
      ...Array.from({ length: 5 }, () => ["Earlier", 60]),
    ]);
    expect(edited.start_time).toBe(daily.start_time);
    expect(idsOf(edited)).toEqual(ids);
  });

  it("leaves later single edits on top, and supersedes earlier following edits", () => {
    let m = applyOccurrenceEdit(
      newYorkWeekly,
      {
        occurrence_id: id(3),
        scope: "single",
        title: "Special",
        start_time: "2030-03-26T15:00:00Z",
      },
      NOW,
    );
    m = applyOccurrenceEdit(
      m,
      { occurrence_id: id(2), scope: "this_and_following", title: "Spring", duration: 45 },
      NOW,
    );
    m = applyOccurrenceEdit(
      m,
      {
        occurrence_id: id(1),
        scope: "this_and_following",
        title: "Later",
        start_time: "2030-03-12T15:00:00Z",
      },
      NOW,
    );
    expect(all(m).map((o) => [o.start_time, o.title, o.duration])).toEqual([
      [NY_STARTS[0], "TSC", 30],
      ["2030-03-12T15:00:00.000Z", "Later", 30],
      ["2030-03-19T15:00:00.000Z", "Later", 45],
      // Its own hour later, on top of the series' hour later; its own title.
      ["2030-03-26T16:00:00.000Z", "Special", 45],
      ["2030-04-02T15:00:00.000Z", "Later", 45],
    ]);
  });

  it("refuses a move before the previous occurrence or onto the next, as they stand", () => {
    const move = (start_time: string) =>
      errorOf(() =>
        applyOccurrenceEdit(
          newYorkWeekly,
          { occurrence_id: id(2), scope: "this_and_following", start_time },
          NOW,
        ),
      );
    expect(move("2030-03-12T13:00:00Z")).toEqual({ status: 400, path: "/start_time" });
    expect(move(NY_STARTS[3]!)).toEqual({ status: 400, path: "/start_time" });
    expect(move("2030-03-26T13:59:59Z")).toBeUndefined();
  });
});

describe("reading edited occurrences", () => {
  const moved = applyOccurrenceEdit(
    newYorkWeekly,
    { occurrence_id: id(2), scope: "single", start_time: "2030-03-25T14:00:00Z", duration: 90 },
    NOW,
  );

  it("filters from and to on the edited start, and pages by id", () => {
    const between = (from: string, to: string) =>
      editedOccurrencesBetween(moved, {
        from: Date.parse(from),
        to: Date.parse(to),
        limit: 10,
      }).map((o) => o.occurrence_id);
    expect(between("2030-03-19T00:00:00Z", "2030-03-24T00:00:00Z")).toEqual([]);
    expect(between("2030-03-24T00:00:00Z", "2030-03-26T00:00:00Z")).toEqual([id(2)]);
    expect(
      editedOccurrencesBetween(moved, { afterId: id(2), limit: 10 }).map((o) => o.occurrence_id),
    ).toEqual([id(3), id(4)]);
  });

  it("shows an occurrence until its edited end", () => {
    const end = Date.parse("2030-03-25T15:30:00Z");
    expect(editedOccurrencesNotEnded(moved, end - 1, { limit: 1 })[0]?.occurrence_id).toBe(id(2));
    expect(editedOccurrencesNotEnded(moved, end, { limit: 1 })[0]?.occurrence_id).toBe(id(3));
  });

  it("finds the nearest occurrence by edited start", () => {
    expect(nearestEditedOccurrence(moved, Date.parse("2030-03-24T00:00:00Z"))?.occurrence_id).toBe(
      id(2),
    );
    expect(nearestEditedOccurrence(moved, Date.parse("2030-03-16T00:00:00Z"))?.occurrence_id).toBe(
      id(1),
    );
  });

  it("gives every occurrence of the series with its edits, cancelled ones flagged", () => {
    const series = [...editedSeries({ ...moved, cancelled_occurrences: [id(4)] })];
    expect(series.map((o) => [o.occurrence_id, o.is_edited, o.is_cancelled])).toEqual([
      [id(0), false, false],
      [id(1), false, false],
      [id(2), true, false],
      [id(3), false, false],
      [id(4), false, true],
    ]);
    expect(editedOccurrenceOf(moved, id(2))).toEqual(series[2]);
  });

  it("ends the series with the last occurrence's edited end", () => {
    const last = applyOccurrenceEdit(
      newYorkWeekly,
      { occurrence_id: id(4), scope: "single", duration: 120 },
      NOW,
    );
    expect(editedSeriesEndDate(last)).toBe("2030-04-02T16:00:00.000Z");
  });
});

// ---------------------------------------------------------------------------------------------
// Property: a random series, random edits and cancellations, against a reference that keeps every
// occurrence's state explicitly (the layers written out occurrence by occurrence).

interface RefOccurrence {
  id: string;
  original: number;
  /** The series' wall-clock move of this occurrence so far, ms. */
  moved: number;
  series: { duration: number; title: string };
  single: { offset?: number; duration?: number; title?: string };
}

function refStart(o: RefOccurrence, zone: string): number {
  const position =
    o.moved === 0 ? o.original : instantOfWallClock(wallClockOf(o.original, zone) + o.moved, zone);
  return position + (o.single.offset ?? 0);
}

function refPosition(o: RefOccurrence, zone: string): number {
  return refStart({ ...o, single: {} }, zone);
}

/** The reference's view, or null when the edit breaks the order (a 400). */
function refApply(
  state: RefOccurrence[],
  zone: string,
  change: OccurrenceChange,
): RefOccurrence[] | null {
  const next = state.map((o) => ({ ...o, series: { ...o.series }, single: { ...o.single } }));
  const index = next.findIndex((o) => o.id === change.occurrence_id);
  const target = next[index]!;
  const newStart = change.start_time === undefined ? undefined : Date.parse(change.start_time);
  const following = state[index + 1];
  if (newStart !== undefined && following !== undefined && newStart >= refStart(following, zone)) {
    return null;
  }
  const fields = {
    ...(change.duration === undefined ? {} : { duration: change.duration }),
    ...(change.title === undefined ? {} : { title: change.title }),
  };
  if (change.scope === "single") {
    Object.assign(target.single, fields);
    if (newStart !== undefined) target.single.offset = newStart - refPosition(target, zone);
  } else {
    const shift =
      newStart === undefined
        ? 0
        : wallClockOf(newStart, zone) - wallClockOf(refStart(target, zone), zone);
    for (const o of next.slice(index)) {
      o.moved += shift;
      Object.assign(o.series, fields);
    }
    if (fields.duration !== undefined) delete target.single.duration;
    if (fields.title !== undefined) delete target.single.title;
    if (newStart !== undefined) target.single.offset = newStart - refPosition(target, zone);
  }
  const starts = next.map((o) => refStart(o, zone));
  return starts.every((s, i) => i === 0 || starts[i - 1]! < s) ? next : null;
}

const zones = fc.constantFrom("America/New_York", "Europe/Berlin", "UTC");
const rules = fc.oneof(
  fc.record({ type: fc.constant(1 as const), repeat_interval: fc.integer({ min: 1, max: 3 }) }),
  fc.record({
    type: fc.constant(2 as const),
    repeat_interval: fc.integer({ min: 1, max: 2 }),
    weekly_days: fc.constantFrom("2", "3,5", "1,2,3,4,5,6,7"),
  }),
);
/** Around the DST changes of 2030 (March and October/November). */
const firstStarts = fc.record({
  month: fc.constantFrom(3, 10),
  day: fc.integer({ min: 20, max: 31 }),
  hour: fc.integer({ min: 0, max: 23 }),
  minute: fc.constantFrom(0, 30),
});
const operations = fc.array(
  fc.oneof(
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("cancel" as const), at: fc.nat() }) },
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant("edit" as const),
        at: fc.nat(),
        scope: fc.constantFrom("single" as const, "this_and_following" as const),
        // A move of up to a day and a half either way, in minutes (some cross DST gaps).
        move: fc.option(fc.integer({ min: -36 * 60, max: 36 * 60 }), { nil: undefined }),
        duration: fc.option(fc.integer({ min: 0, max: 600 }), { nil: undefined }),
        title: fc.option(fc.constantFrom("A", "B", "C"), { nil: undefined }),
      }),
    },
  ),
  { maxLength: 12 },
);

describe("edited occurrence properties", () => {
  it("list what the rule plus the edits give, in start order, and refuse what breaks the order", () => {
    fc.assert(
      fc.property(
        zones,
        rules,
        firstStarts,
        fc.integer({ min: 2, max: 12 }),
        operations,
        (zone, rule, start, count, ops) => {
          const startMs = DateTime.fromObject(
            { year: 2030, ...start, day: Math.min(start.day, 30) },
            { zone: "utc" },
          )
            .setZone(zone, { keepLocalTime: true })
            .toMillis();
          let m = meeting(new Date(startMs).toISOString(), zone, { ...rule, end_times: count });
          let ref: RefOccurrence[] = occurrencesBetween(m, { limit: 100 }).map((o) => ({
            id: o.occurrence_id,
            original: o.start,
            moved: 0,
            series: { duration: 30, title: "TSC" },
            single: {},
          }));
          const cancelled = new Set<string>();
          for (const op of ops) {
            const target = ref[op.at % ref.length]!;
            if (op.kind === "cancel") {
              cancelled.add(target.id);
              m = { ...m, cancelled_occurrences: [...cancelled] };
              continue;
            }
            const change: OccurrenceChange = {
              occurrence_id: target.id,
              scope: op.scope,
              ...(op.move === undefined
                ? {}
                : {
                    start_time: new Date(
                      refStart(target, zone) + op.move * MINUTE_MS,
                    ).toISOString(),
                  }),
              ...(op.duration === undefined ? {} : { duration: op.duration }),
              ...(op.title === undefined ? {} : { title: op.title }),
            };
            const expected = cancelled.has(target.id) ? "404" : refApply(ref, zone, change);
            let outcome: EditableMeeting | AppError;
            try {
              outcome = applyOccurrenceEdit(m, change, NOW);
            } catch (err) {
              if (!(err instanceof AppError)) throw err;
              outcome = err;
            }
            if (expected === "404") {
              expect(outcome).toBeInstanceOf(AppError);
              expect((outcome as AppError).status).toBe(404);
            } else if (expected === null) {
              expect(outcome).toBeInstanceOf(AppError);
              expect((outcome as AppError).details?.[0]?.path).toBe("/start_time");
            } else {
              expect(outcome).not.toBeInstanceOf(AppError);
              m = outcome as EditableMeeting;
              ref = expected;
            }
            const shown = ref
              .filter((o) => !cancelled.has(o.id))
              .map((o) => ({
                occurrence_id: o.id,
                start: refStart(o, zone),
                duration: o.single.duration ?? o.series.duration,
                title: o.single.title ?? o.series.title,
              }));
            const listed = all(m).map((o: EditedOccurrence) => ({
              occurrence_id: o.occurrence_id,
              start: o.start,
              duration: o.duration,
              title: o.title,
            }));
            expect(listed).toEqual(shown);
            // A window on the edited starts.
            const from = shown[Math.floor(shown.length / 2)]?.start ?? startMs;
            expect(
              editedOccurrencesBetween(m, {
                from,
                to: from + 3 * DAY_MS,
                limit: 100,
                skipCancelled: true,
              }).map((o) => o.occurrence_id),
            ).toEqual(
              shown
                .filter((o) => o.start >= from && o.start < from + 3 * DAY_MS)
                .map((o) => o.occurrence_id),
            );
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});
