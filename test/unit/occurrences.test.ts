import fc from "fast-check";
import { DateTime, Settings } from "luxon";
import {
  HORIZON_MS,
  MAX_OCCURRENCES_PER_CALL,
  firstOccurrence,
  isOccurrence,
  nearestOccurrence,
  occurrencesBetween,
  occurrencesNotEnded,
  seriesEndDate,
  type Schedule,
} from "../../src/domain/occurrences.js";
import type { Recurrence } from "../../src/generated/schema-types.js";

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

function schedule(
  start_time: string,
  timezone: string,
  recurrence?: Recurrence,
  duration = 60,
): Schedule {
  return { start_time, duration, timezone, recurrence };
}

function starts(s: Schedule, limit = 50): string[] {
  return occurrencesBetween(s, { limit }).map((occurrence) => occurrence.start_time);
}

/** Literal expectations are written without milliseconds; replies carry `.000Z`. */
function iso(...texts: string[]): string[] {
  return texts.map((text) => new Date(text).toISOString());
}

// Every expected value below was worked out by hand (weekdays and offsets checked against the
// tz database with Python's zoneinfo), never by running the code under test.
describe("hand-worked series", () => {
  const weekly = (extra: Partial<Recurrence> = {}): Recurrence => ({
    type: 2,
    repeat_interval: 1,
    end_times: 3,
    ...extra,
  });
  const daily = (extra: Partial<Recurrence> = {}): Recurrence => ({
    type: 1,
    repeat_interval: 1,
    end_times: 3,
    ...extra,
  });

  it.each<[string, Schedule, string[]]>([
    [
      "New York, weekly 10:00 across spring forward (2026-03-08): 15:00Z becomes 14:00Z",
      schedule("2026-03-01T10:00:00-05:00", "America/New_York", weekly()),
      iso("2026-03-01T15:00:00Z", "2026-03-08T14:00:00Z", "2026-03-15T14:00:00Z"),
    ],
    [
      "New York, weekly 10:00 across fall back (2026-11-01): 14:00Z becomes 15:00Z",
      schedule("2026-10-25T10:00:00-04:00", "America/New_York", weekly()),
      iso("2026-10-25T14:00:00Z", "2026-11-01T15:00:00Z", "2026-11-08T15:00:00Z"),
    ],
    [
      "Berlin, weekly 10:00 across spring forward (2026-03-29): 09:00Z becomes 08:00Z",
      schedule("2026-03-22T10:00:00+01:00", "Europe/Berlin", weekly()),
      iso("2026-03-22T09:00:00Z", "2026-03-29T08:00:00Z", "2026-04-05T08:00:00Z"),
    ],
    [
      "Berlin, weekly on Sundays 10:00 across fall back (2026-10-25): 08:00Z becomes 09:00Z",
      schedule("2026-10-18T10:00:00+02:00", "Europe/Berlin", weekly({ weekly_days: "1" })),
      iso("2026-10-18T08:00:00Z", "2026-10-25T09:00:00Z", "2026-11-01T09:00:00Z"),
    ],
    [
      "last Friday of the month, 12:00 New York, from a start that is not one",
      schedule("2026-01-05T12:00:00-05:00", "America/New_York", {
        type: 3,
        repeat_interval: 1,
        monthly_week: -1,
        monthly_week_day: 6,
        end_times: 6,
      }),
      iso(
        "2026-01-30T17:00:00Z",
        "2026-02-27T17:00:00Z",
        "2026-03-27T16:00:00Z",
        "2026-04-24T16:00:00Z",
        "2026-05-29T16:00:00Z",
        "2026-06-26T16:00:00Z",
      ),
    ],
    [
      "second Tuesday of every other month",
      schedule("2026-01-13T09:00:00Z", "UTC", {
        type: 3,
        repeat_interval: 2,
        monthly_week: 2,
        monthly_week_day: 3,
        end_times: 3,
      }),
      iso("2026-01-13T09:00:00Z", "2026-03-10T09:00:00Z", "2026-05-12T09:00:00Z"),
    ],
    [
      "every other day until an end_date_time that one start equals (excluded)",
      schedule("2026-03-01T09:00:00Z", "UTC", {
        type: 1,
        repeat_interval: 2,
        end_date_time: "2026-03-09T09:00:00Z",
      }),
      iso(
        "2026-03-01T09:00:00Z",
        "2026-03-03T09:00:00Z",
        "2026-03-05T09:00:00Z",
        "2026-03-07T09:00:00Z",
      ),
    ],
    [
      "every other day until one second after a start (included)",
      schedule("2026-03-01T09:00:00Z", "UTC", {
        type: 1,
        repeat_interval: 2,
        end_date_time: "2026-03-09T09:00:01Z",
      }),
      iso(
        "2026-03-01T09:00:00Z",
        "2026-03-03T09:00:00Z",
        "2026-03-05T09:00:00Z",
        "2026-03-07T09:00:00Z",
        "2026-03-09T09:00:00Z",
      ),
    ],
    [
      "an end_date_time equal to start_time leaves nothing",
      schedule("2026-03-01T09:00:00Z", "UTC", {
        type: 1,
        repeat_interval: 2,
        end_date_time: "2026-03-01T09:00:00Z",
      }),
      [],
    ],
    [
      "monthly_day 31 in leap 2028: Feb 29, Apr 30",
      schedule("2028-01-31T12:00:00Z", "UTC", {
        type: 3,
        repeat_interval: 1,
        monthly_day: 31,
        end_times: 5,
      }),
      iso(
        "2028-01-31T12:00:00Z",
        "2028-02-29T12:00:00Z",
        "2028-03-31T12:00:00Z",
        "2028-04-30T12:00:00Z",
        "2028-05-31T12:00:00Z",
      ),
    ],
    [
      "monthly_day 31 in 2027: Feb 28, Apr 30",
      schedule("2027-01-31T12:00:00Z", "UTC", {
        type: 3,
        repeat_interval: 1,
        monthly_day: 31,
        end_times: 4,
      }),
      iso(
        "2027-01-31T12:00:00Z",
        "2027-02-28T12:00:00Z",
        "2027-03-31T12:00:00Z",
        "2027-04-30T12:00:00Z",
      ),
    ],
    [
      "monthly_day 29 in 2027: Feb 28",
      schedule("2027-01-29T12:00:00Z", "UTC", {
        type: 3,
        repeat_interval: 1,
        monthly_day: 29,
        end_times: 3,
      }),
      iso("2027-01-29T12:00:00Z", "2027-02-28T12:00:00Z", "2027-03-29T12:00:00Z"),
    ],
    [
      "monthly_day 29 in leap 2028: Feb 29",
      schedule("2028-01-29T12:00:00Z", "UTC", {
        type: 3,
        repeat_interval: 1,
        monthly_day: 29,
        end_times: 3,
      }),
      iso("2028-01-29T12:00:00Z", "2028-02-29T12:00:00Z", "2028-03-29T12:00:00Z"),
    ],
    [
      "monthly without a day rule, from the 31st: clamped like monthly_day",
      schedule("2027-03-31T12:00:00Z", "UTC", { type: 3, repeat_interval: 1, end_times: 3 }),
      iso("2027-03-31T12:00:00Z", "2027-04-30T12:00:00Z", "2027-05-31T12:00:00Z"),
    ],
    [
      "half-hour zone: daily 09:00 in Asia/Kolkata (+05:30) is 03:30Z",
      schedule("2026-06-01T09:00:00+05:30", "Asia/Kolkata", daily({ end_times: 2 })),
      iso("2026-06-01T03:30:00Z", "2026-06-02T03:30:00Z"),
    ],
    [
      "every 3 weeks on Monday and Thursday (weeks from the start's week)",
      schedule(
        "2026-03-02T10:00:00Z",
        "UTC",
        weekly({ repeat_interval: 3, weekly_days: "2,5", end_times: 6 }),
      ),
      iso(
        "2026-03-02T10:00:00Z",
        "2026-03-05T10:00:00Z",
        "2026-03-23T10:00:00Z",
        "2026-03-26T10:00:00Z",
        "2026-04-13T10:00:00Z",
        "2026-04-16T10:00:00Z",
      ),
    ],
    [
      "every 3 weeks on Monday and Thursday from a Wednesday: that Monday neither occurs nor counts",
      schedule("2026-03-04T10:00:00Z", "UTC", weekly({ repeat_interval: 3, weekly_days: "2,5" })),
      iso("2026-03-05T10:00:00Z", "2026-03-23T10:00:00Z", "2026-03-26T10:00:00Z"),
    ],
    [
      "weekly on Mondays from a Friday begins the next Monday",
      schedule("2026-03-06T10:00:00Z", "UTC", weekly({ weekly_days: "2", end_times: 2 })),
      iso("2026-03-09T10:00:00Z", "2026-03-16T10:00:00Z"),
    ],
    [
      "every other week on Mondays from a Friday: the next Monday is in an off week",
      schedule(
        "2026-03-06T10:00:00Z",
        "UTC",
        weekly({ repeat_interval: 2, weekly_days: "2", end_times: 2 }),
      ),
      iso("2026-03-16T10:00:00Z", "2026-03-30T10:00:00Z"),
    ],
    [
      "end_times 3 on Sun, Mon, Fri from a Wednesday counts only days from the start",
      schedule("2026-03-04T10:00:00Z", "UTC", weekly({ weekly_days: "1,2,6" })),
      iso("2026-03-06T10:00:00Z", "2026-03-08T10:00:00Z", "2026-03-09T10:00:00Z"),
    ],
    [
      "DST gap, New York: 02:30 on 2026-03-08 does not exist and moves to 03:30 EDT",
      schedule("2026-03-07T02:30:00-05:00", "America/New_York", daily()),
      iso("2026-03-07T07:30:00Z", "2026-03-08T07:30:00Z", "2026-03-09T06:30:00Z"),
    ],
    [
      "DST overlap, New York: 01:30 on 2026-11-01 is the earlier one (EDT)",
      schedule("2026-10-31T01:30:00-04:00", "America/New_York", daily()),
      iso("2026-10-31T05:30:00Z", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"),
    ],
    [
      "DST overlap, New York: a start_time on the second 01:30 (EST) is its own first occurrence",
      schedule("2026-11-01T01:30:00-05:00", "America/New_York", daily({ end_times: 2 })),
      iso("2026-11-01T06:30:00Z", "2026-11-02T06:30:00Z"),
    ],
    [
      "DST gap, Berlin: 02:30 on 2026-03-29 moves to 03:30 CEST",
      schedule("2026-03-28T02:30:00+01:00", "Europe/Berlin", daily()),
      iso("2026-03-28T01:30:00Z", "2026-03-29T01:30:00Z", "2026-03-30T00:30:00Z"),
    ],
    [
      "DST overlap, Berlin: 02:30 on 2026-10-25 is the earlier one (CEST)",
      schedule("2026-10-24T02:30:00+02:00", "Europe/Berlin", daily()),
      iso("2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"),
    ],
    [
      "30-minute DST gap, Lord Howe: 02:15 on 2026-10-04 moves to 02:45",
      schedule("2026-10-03T02:15:00+10:30", "Australia/Lord_Howe", daily()),
      iso("2026-10-02T15:45:00Z", "2026-10-03T15:45:00Z", "2026-10-04T15:15:00Z"),
    ],
    [
      "30-minute DST overlap, Lord Howe: 01:45 on 2026-04-05 is the earlier one (+11:00)",
      schedule("2026-04-04T01:45:00+11:00", "Australia/Lord_Howe", daily()),
      iso("2026-04-03T14:45:00Z", "2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z"),
    ],
    [
      "a skipped day (Pacific/Apia 2011-12-30) has no occurrence but counts toward end_times",
      schedule("2011-12-29T10:00:00-10:00", "Pacific/Apia", daily({ end_times: 4 })),
      iso("2011-12-29T20:00:00Z", "2011-12-30T20:00:00Z", "2011-12-31T20:00:00Z"),
    ],
    [
      "no recurrence: exactly start_time",
      schedule("2026-05-05T14:00:00Z", "Europe/Berlin"),
      iso("2026-05-05T14:00:00Z"),
    ],
  ])("%s", (_name, s, expected) => {
    expect(starts(s)).toEqual(expected);
  });

  it("uses the start in unix seconds as occurrence_id", () => {
    const s = schedule("2026-06-01T09:00:00+05:30", "Asia/Kolkata", daily({ end_times: 2 }));
    expect(occurrencesBetween(s, { limit: 5 })).toEqual([
      { occurrence_id: "1780284600", start: 1780284600000, start_time: "2026-06-01T03:30:00.000Z" },
      { occurrence_id: "1780371000", start: 1780371000000, start_time: "2026-06-02T03:30:00.000Z" },
    ]);
  });

  it("drops sub-second digits of start_time", () => {
    const s = schedule("2026-03-01t09:00:00.750z", "UTC", daily({ end_times: 2 }));
    expect(starts(s)).toEqual(iso("2026-03-01T09:00:00Z", "2026-03-02T09:00:00Z"));
  });

  it("resolves ambiguous local times the same whatever the clock says", () => {
    // luxon's fromObject settles ambiguity from the offset at Settings.now(); results must not.
    const s = schedule("2026-10-31T01:30:00-04:00", "America/New_York", daily());
    const realNow = Settings.now;
    try {
      for (const now of [Date.UTC(2026, 0, 15), Date.UTC(2026, 6, 15)]) {
        Settings.now = () => now;
        expect(starts(s)).toEqual(
          iso("2026-10-31T05:30:00Z", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"),
        );
      }
    } finally {
      Settings.now = realNow;
    }
  });
});

describe("seriesEndDate", () => {
  it("is the end of the last occurrence for end_times", () => {
    const s = schedule(
      "2026-03-04T10:00:00Z",
      "UTC",
      { type: 2, repeat_interval: 1, weekly_days: "1,2,6", end_times: 3 },
      60,
    );
    expect(seriesEndDate(s)).toBe("2026-03-09T11:00:00.000Z");
  });

  it("is the end of the last occurrence before end_date_time", () => {
    const s = schedule(
      "2026-03-01T09:00:00Z",
      "UTC",
      { type: 1, repeat_interval: 2, end_date_time: "2026-03-09T09:00:00Z" },
      30,
    );
    expect(seriesEndDate(s)).toBe("2026-03-07T09:30:00.000Z");
  });

  it("is start_time + duration without recurrence", () => {
    expect(seriesEndDate(schedule("2026-05-05T14:00:00Z", "Europe/Berlin", undefined, 45))).toBe(
      "2026-05-05T14:45:00.000Z",
    );
  });

  it("is undefined for an endless series", () => {
    expect(
      seriesEndDate(schedule("2026-05-05T14:00:00Z", "UTC", { type: 1, repeat_interval: 1 })),
    ).toBeUndefined();
  });

  it("is undefined for a series that ends before its first match", () => {
    // Starts on a Friday, Mondays only, ends on the Saturday.
    const s = schedule("2026-03-06T10:00:00Z", "UTC", {
      type: 2,
      repeat_interval: 1,
      weekly_days: "2",
      end_date_time: "2026-03-07T00:00:00Z",
    });
    expect(seriesEndDate(s)).toBeUndefined();
    expect(firstOccurrence(s)).toBeUndefined();
  });

  it("stops at the horizon for an end_times past year 9999, without walking there", () => {
    const s = schedule(
      "2026-01-01T10:00:00Z",
      "UTC",
      { type: 1, repeat_interval: 1, end_times: 1_000_000_000 },
      30,
    );
    const began = performance.now();
    expect(seriesEndDate(s)).toBe("9999-12-30T10:30:00.000Z");
    expect(performance.now() - began).toBeLessThan(250);
    expect(new Date(HORIZON_MS).toISOString()).toBe("9999-12-31T00:00:00.000Z");
  });
});

describe("queries", () => {
  const everyDay = schedule("2026-01-01T10:00:00Z", "UTC", { type: 1, repeat_interval: 1 });

  it("jumps 50 years into an endless daily series", () => {
    const from = Date.parse("2076-01-01T00:00:00Z");
    const began = performance.now();
    const found = occurrencesBetween(everyDay, { from, limit: 3 });
    expect(performance.now() - began).toBeLessThan(250);
    expect(found.map((o) => o.start_time)).toEqual(
      iso("2076-01-01T10:00:00Z", "2076-01-02T10:00:00Z", "2076-01-03T10:00:00Z"),
    );
  });

  it("jumps into an endless every-other-week series, skipping off weeks", () => {
    const s = schedule("2026-03-01T10:00:00-05:00", "America/New_York", {
      type: 2,
      repeat_interval: 2,
    });
    const found = occurrencesBetween(s, { from: Date.parse("2076-07-01T00:00:00Z"), limit: 2 });
    expect(found.map((o) => o.start_time)).toEqual(
      iso("2076-07-12T14:00:00Z", "2076-07-26T14:00:00Z"),
    );
  });

  it("treats from as inclusive and to as exclusive", () => {
    const found = occurrencesBetween(everyDay, {
      from: Date.parse("2026-01-02T10:00:00Z"),
      to: Date.parse("2026-01-04T10:00:00Z"),
      limit: 10,
    });
    expect(found.map((o) => o.start_time)).toEqual(
      iso("2026-01-02T10:00:00Z", "2026-01-03T10:00:00Z"),
    );
  });

  it("skips excluded ids without counting them toward limit", () => {
    const found = occurrencesBetween(everyDay, {
      limit: 2,
      excluded: new Set([String(Date.parse("2026-01-01T10:00:00Z") / 1000)]),
    });
    expect(found.map((o) => o.start_time)).toEqual(
      iso("2026-01-02T10:00:00Z", "2026-01-03T10:00:00Z"),
    );
  });

  it("returns nothing for a limit of 0 and caps large limits", () => {
    expect(occurrencesBetween(everyDay, { limit: 0 })).toEqual([]);
    expect(occurrencesBetween(everyDay, { limit: 1e9 })).toHaveLength(MAX_OCCURRENCES_PER_CALL);
  });

  it("lists occurrences that have not ended at now", () => {
    const s = schedule("2026-01-01T10:00:00Z", "UTC", { type: 1, repeat_interval: 1 }, 60);
    const justBeforeEnd = Date.parse("2026-01-02T10:59:59.999Z");
    expect(occurrencesNotEnded(s, justBeforeEnd, { limit: 1 })[0]?.start_time).toBe(
      "2026-01-02T10:00:00.000Z",
    );
    expect(occurrencesNotEnded(s, justBeforeEnd + 1, { limit: 1 })[0]?.start_time).toBe(
      "2026-01-03T10:00:00.000Z",
    );
  });

  it("knows an occurrence id exactly", () => {
    const s = schedule("2026-03-04T10:00:00Z", "UTC", {
      type: 2,
      repeat_interval: 1,
      weekly_days: "1,2,6",
      end_times: 3,
    });
    expect(isOccurrence(s, "1772791200")).toBe(true); // Fri 2026-03-06T10:00Z
    expect(isOccurrence(s, "1772791201")).toBe(false);
    expect(isOccurrence(s, "01772791200")).toBe(false);
    expect(isOccurrence(s, "1772445600")).toBe(false); // Mon 2026-03-02, before the start
    expect(isOccurrence(s, "1772618400")).toBe(false); // the Wednesday start itself
    expect(isOccurrence(s, "abc")).toBe(false);
  });

  it("finds the nearest occurrence, the earlier on a tie", () => {
    const nearest = (text: string): string | undefined =>
      nearestOccurrence(everyDay, Date.parse(text))?.start_time;
    expect(nearest("2026-01-02T22:00:00Z")).toBe("2026-01-02T10:00:00.000Z");
    expect(nearest("2026-01-02T22:00:00.001Z")).toBe("2026-01-03T10:00:00.000Z");
    expect(nearest("2025-06-01T00:00:00Z")).toBe("2026-01-01T10:00:00.000Z");
    expect(nearest("9000-06-01T09:00:00Z")).toBe("9000-06-01T10:00:00.000Z");
    const three = schedule("2026-01-01T10:00:00Z", "UTC", {
      type: 1,
      repeat_interval: 1,
      end_times: 3,
    });
    expect(nearestOccurrence(three, Date.parse("2030-01-01T00:00:00Z"))?.start_time).toBe(
      "2026-01-03T10:00:00.000Z",
    );
  });

  it("rejects a zone that is not IANA", () => {
    expect(() => starts(schedule("2026-01-01T10:00:00Z", "Mars/Olympus"))).toThrow(RangeError);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties, checked against a day-by-day reference written independently of the module: plain
// Date.UTC arithmetic on local calendar dates, which luxon only converts to and from.

const ZONES = [
  "UTC",
  "Asia/Kolkata",
  "Asia/Kathmandu",
  "Australia/Lord_Howe",
  "America/St_Johns",
  "Pacific/Chatham",
  "Europe/London",
  "Europe/Berlin",
  "America/New_York",
  "America/Sao_Paulo",
  "America/Santiago",
] as const;

interface Ymd {
  year: number;
  month: number;
  day: number;
}

const dayOf = (d: Ymd): number => Date.UTC(d.year, d.month - 1, d.day) / DAY_MS;
const ymdOf = (day: number): Ymd => {
  const date = new Date(day * DAY_MS);
  return { year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate() };
};
/** 1 = Sunday .. 7 = Saturday, as the contract numbers weekdays. */
const weekdayOf = (day: number): number => new Date(day * DAY_MS).getUTCDay() + 1;
const daysIn = (year: number, month: number): number =>
  new Date(Date.UTC(year, month, 0)).getUTCDate();

/** Whether the rule picks local date `day`, by the contract's words, for a series from `startDay`. */
function picks(recurrence: Recurrence | undefined, startDay: number, day: number): boolean {
  if (day < startDay) return false;
  if (recurrence === undefined) return day === startDay;
  const n = recurrence.repeat_interval;
  if (recurrence.type === 1) return (day - startDay) % n === 0;
  if (recurrence.type === 2) {
    const listed = recurrence.weekly_days?.split(",").map(Number) ?? [weekdayOf(startDay)];
    const weeksSinceStartWeek = Math.floor((day - (startDay - weekdayOf(startDay) + 1)) / 7);
    return listed.includes(weekdayOf(day)) && weeksSinceStartWeek % n === 0;
  }
  const start = ymdOf(startDay);
  const date = ymdOf(day);
  if (((date.year - start.year) * 12 + date.month - start.month) % n !== 0) return false;
  const last = daysIn(date.year, date.month);
  const { monthly_week: week, monthly_week_day: weekDay } = recurrence;
  if (week !== undefined && weekDay !== undefined) {
    if (weekdayOf(day) !== weekDay) return false;
    return week === -1 ? date.day + 7 > last : Math.ceil(date.day / 7) === week;
  }
  return date.day === Math.min(recurrence.monthly_day ?? start.day, last);
}

function localOf(instant: number, zone: string): DateTime {
  return DateTime.fromMillis(instant, { zone });
}

function localDayOf(instant: number, zone: string): number {
  const local = localOf(instant, zone);
  return dayOf({ year: local.year, month: local.month, day: local.day });
}

const wallClock = (local: DateTime): string => local.toFormat("yyyy-MM-dd HH:mm:ss");

interface Generated {
  zone: string;
  startMs: number;
  recurrence: Recurrence | undefined;
}

const intervalArb = fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 6 }));
const endArb = fc.oneof(
  fc.constant({}),
  fc.record({ end_times: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ end_after_ms: fc.integer({ min: -2 * DAY_MS, max: 500 * DAY_MS }) }),
);
const ruleArb = fc.oneof(
  fc.record({ type: fc.constant(1 as const), repeat_interval: intervalArb }),
  fc.record(
    {
      type: fc.constant(2 as const),
      repeat_interval: intervalArb,
      weekly_days: fc
        .array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 7 })
        .map((days) => days.join(",")),
    },
    { requiredKeys: ["type", "repeat_interval"] },
  ),
  fc.record(
    {
      type: fc.constant(3 as const),
      repeat_interval: intervalArb,
      monthly_day: fc.integer({ min: 1, max: 31 }),
    },
    { requiredKeys: ["type", "repeat_interval"] },
  ),
  fc.record({
    type: fc.constant(3 as const),
    repeat_interval: intervalArb,
    monthly_week: fc.constantFrom(-1 as const, 1 as const, 2 as const, 3 as const, 4 as const),
    monthly_week_day: fc.integer({ min: 1, max: 7 }),
  }),
);

/** Start times biased toward the small hours, where DST changes happen. */
const startArb = fc.record({
  zone: fc.constantFrom(...ZONES),
  year: fc.integer({ min: 2000, max: 2100 }),
  month: fc.integer({ min: 1, max: 12 }),
  day: fc.integer({ min: 1, max: 31 }),
  hour: fc.oneof(fc.constantFrom(0, 1, 2, 3, 23), fc.integer({ min: 0, max: 23 })),
  minute: fc.constantFrom(0, 15, 30, 45, 59),
  second: fc.constantFrom(0, 30),
});

const generatedArb: fc.Arbitrary<Generated> = fc
  .record({ start: startArb, rule: fc.option(ruleArb, { freq: 8 }), end: endArb })
  .map(({ start, rule, end }) => {
    const { zone, ...fields } = start;
    const day = Math.min(fields.day, daysIn(fields.year, fields.month));
    // Through UTC rather than fromObject, whose reading of an ambiguous time depends on the clock.
    const startMs = DateTime.fromObject({ ...fields, day }, { zone: "utc" })
      .setZone(zone, { keepLocalTime: true })
      .toMillis();
    if (rule === null) return { zone, startMs, recurrence: undefined };
    const recurrence: Recurrence = { ...rule };
    if ("end_times" in end) recurrence.end_times = end.end_times;
    if ("end_after_ms" in end) {
      recurrence.end_date_time = new Date(startMs + end.end_after_ms).toISOString();
    }
    return { zone, startMs, recurrence };
  });

function scheduleOf(g: Generated, duration = 30): Schedule {
  return {
    start_time: new Date(g.startMs).toISOString(),
    duration,
    timezone: g.zone,
    recurrence: g.recurrence,
  };
}

const LIMIT = 30;

/** The dates the rule picks, in order, from the start's local date: at most `count` of them. */
function referenceDates(g: Generated, count: number): number[] {
  const startDay = localDayOf(g.startMs, g.zone);
  const n = g.recurrence?.repeat_interval ?? 1;
  // Far more days than `count` matches can need: a month is at most 31 days.
  const span = (count + 2) * 31 * n + 62;
  const dates: number[] = [];
  for (let day = startDay; day < startDay + span && dates.length < count; day++) {
    if (picks(g.recurrence, startDay, day)) dates.push(day);
  }
  return dates;
}

describe("occurrence properties", () => {
  it("pick exactly the rule's dates, in order, within end_times and end_date_time", () => {
    fc.assert(
      fc.property(generatedArb, (g) => {
        const found = occurrencesBetween(scheduleOf(g), { limit: LIMIT });
        const endTimes = g.recurrence === undefined ? 1 : (g.recurrence.end_times ?? Infinity);
        const endMs =
          g.recurrence?.end_date_time === undefined
            ? Infinity
            : Date.parse(g.recurrence.end_date_time);
        const expected = referenceDates(g, Math.min(LIMIT, endTimes));
        const days = found.map((o) => localDayOf(o.start, g.zone));
        expect(days).toEqual(expected.slice(0, days.length));
        expect(found.length).toBeLessThanOrEqual(endTimes);
        for (const o of found) {
          expect(o.start).toBeGreaterThanOrEqual(g.startMs);
          expect(o.start).toBeLessThan(endMs);
        }
        if (found.length < expected.length) {
          // Only end_date_time may cut the list short: the next picked date starts near or after it.
          const next = ymdOf(expected[found.length] ?? 0);
          const local = localOf(g.startMs, g.zone);
          const nextStart = DateTime.fromObject(
            { ...next, hour: local.hour, minute: local.minute, second: local.second },
            { zone: g.zone },
          ).toMillis();
          expect(nextStart + 2 * HOUR_MS).toBeGreaterThanOrEqual(endMs);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("increase strictly, with ids that are their unix seconds", () => {
    fc.assert(
      fc.property(generatedArb, (g) => {
        const found = occurrencesBetween(scheduleOf(g), { limit: LIMIT });
        found.forEach((o, i) => {
          expect(o.start % 1000).toBe(0);
          expect(o.occurrence_id).toBe(String(o.start / 1000));
          expect(o.start_time).toBe(new Date(o.start).toISOString());
          if (i > 0) expect(o.start).toBeGreaterThan(found[i - 1]?.start ?? Infinity);
        });
        expect(new Set(found.map((o) => o.occurrence_id)).size).toBe(found.length);
      }),
    );
  });

  it("keep start_time's wall-clock time, except where it does not exist that day", () => {
    fc.assert(
      fc.property(generatedArb, (g) => {
        const found = occurrencesBetween(scheduleOf(g), { limit: LIMIT });
        const start = localOf(g.startMs, g.zone);
        const wanted = { hour: start.hour, minute: start.minute, second: start.second };
        found.forEach((o, i) => {
          const local = localOf(o.start, g.zone);
          if (i === 0 && o.start === g.startMs) return;
          // The earlier of two equal local times: no instant shortly before shows the same.
          for (const back of [30, 60, 90]) {
            expect(wallClock(localOf(o.start - back * 60_000, g.zone))).not.toBe(wallClock(local));
          }
          if (
            local.hour === wanted.hour &&
            local.minute === wanted.minute &&
            local.second === wanted.second
          ) {
            return;
          }
          // Otherwise the wanted time fell in a gap: no instant within three hours shows it that
          // day, and the occurrence comes later by at most the gap (an hour at most here).
          const target = `${local.toFormat("yyyy-MM-dd")} ${DateTime.utc(2000, 1, 1, wanted.hour, wanted.minute, wanted.second).toFormat("HH:mm:ss")}`;
          const nearby = Array.from({ length: 361 }, (_, k) =>
            wallClock(localOf(o.start + (k - 180) * 60_000, g.zone)),
          );
          expect(nearby).not.toContain(target);
          const minutesLate = local.hour * 60 + local.minute - (wanted.hour * 60 + wanted.minute);
          expect(minutesLate).toBeGreaterThan(0);
          expect(minutesLate).toBeLessThanOrEqual(60);
        });
      }),
    );
  });

  it("answer windows [from, to), limits, pages and exclusions as the full list does", () => {
    const fraction = fc.integer({ min: 0, max: 1000 }).map((n) => n / 1000);
    fc.assert(
      fc.property(
        generatedArb,
        fraction,
        fraction,
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 0, max: 2 ** 30 - 1 }),
        (g, a, b, limit, excludeMask) => {
          const s = scheduleOf(g);
          const all = occurrencesBetween(s, { limit: LIMIT });
          const first = all[0];
          const last = all.at(-1);
          if (first === undefined || last === undefined) return;
          // Every window lies inside what `all` covers, so filtering `all` is the whole answer.
          const low = first.start - 2 * DAY_MS;
          const high = last.start + 1;
          const from = low + Math.floor(a * (high - low));
          const to = low + Math.floor(b * (high - low));
          expect(occurrencesBetween(s, { from, to, limit })).toEqual(
            all.filter((o) => o.start >= from && o.start < to).slice(0, limit),
          );

          const paged = [];
          let cursor: number | undefined;
          for (let pages = 0; pages <= LIMIT; pages++) {
            const page = occurrencesBetween(s, { from: cursor, to: high, limit });
            const end = page.at(-1);
            if (end === undefined) break;
            paged.push(...page);
            cursor = end.start + 1;
          }
          expect(paged).toEqual(all);

          const excluded = new Set(
            all.filter((_, i) => ((excludeMask >> i) & 1) === 1).map((o) => o.occurrence_id),
          );
          expect(occurrencesBetween(s, { to: high, limit: LIMIT, excluded })).toEqual(
            all.filter((o) => !excluded.has(o.occurrence_id)),
          );
        },
      ),
    );
  });

  it("recognise exactly their own ids and are nearest to the instants closest to them", () => {
    fc.assert(
      fc.property(generatedArb, (g) => {
        const s = scheduleOf(g);
        const all = occurrencesBetween(s, { limit: 10 });
        all.forEach((o, i) => {
          const seconds = Number(o.occurrence_id);
          expect(isOccurrence(s, o.occurrence_id)).toBe(true);
          expect(isOccurrence(s, String(seconds + 1))).toBe(false);
          expect(isOccurrence(s, String(seconds - 1))).toBe(false);
          expect(nearestOccurrence(s, o.start)).toEqual(o);
          const next = all[i + 1];
          if (next === undefined) return;
          // Starts are whole seconds, so the midpoint is a whole millisecond: a tie, won by the earlier.
          const middle = (o.start + next.start) / 2;
          expect(nearestOccurrence(s, middle)).toEqual(o);
          expect(nearestOccurrence(s, middle + 1)).toEqual(next);
        });
        const first = all[0];
        if (first !== undefined)
          expect(nearestOccurrence(s, g.startMs - 400 * DAY_MS)).toEqual(first);
        else expect(nearestOccurrence(s, g.startMs)).toBeUndefined();
      }),
    );
  });

  it("end where their last occurrence ends, or never", () => {
    fc.assert(
      fc.property(generatedArb, fc.integer({ min: 0, max: 600 }), (g, duration) => {
        const s = scheduleOf(g, duration);
        const r = g.recurrence;
        if (r !== undefined && r.end_times === undefined && r.end_date_time === undefined) {
          expect(seriesEndDate(s)).toBeUndefined();
          return;
        }
        // end_times <= 40 and end_date_time <= 500 days: 1000 is the whole series.
        const last = occurrencesBetween(s, { limit: 1000 }).at(-1);
        expect(seriesEndDate(s)).toBe(
          last === undefined ? undefined : new Date(last.start + duration * 60_000).toISOString(),
        );
      }),
      { numRuns: 60 },
    );
  });

  it("reach any instant up to the horizon quickly, as a query from further back does", () => {
    const endless = generatedArb
      .filter((g) => g.recurrence !== undefined)
      .map((g): Generated => {
        const {
          end_times: _t,
          end_date_time: _d,
          ...rule
        } = g.recurrence ?? { type: 1, repeat_interval: 1 };
        return { ...g, recurrence: rule };
      });
    fc.assert(
      fc.property(endless, fc.integer({ min: 1, max: 7000 * 366 }), (g, days) => {
        const s = scheduleOf(g);
        const instant = g.startMs + days * DAY_MS + 12_345_000;
        const began = performance.now();
        const ahead = occurrencesBetween(s, { from: instant, limit: 5 });
        const nearest = nearestOccurrence(s, instant);
        expect(performance.now() - began).toBeLessThan(250);

        const startDay = localDayOf(g.startMs, g.zone);
        for (const o of ahead)
          expect(picks(g.recurrence, startDay, localDayOf(o.start, g.zone))).toBe(true);

        const n = g.recurrence?.repeat_interval ?? 1;
        const around = occurrencesBetween(s, { from: instant - 200 * n * DAY_MS, limit: 400 });
        expect(ahead).toEqual(around.filter((o) => o.start >= instant).slice(0, 5));
        const distance = (o: { start: number }): number => Math.abs(o.start - instant);
        const best = around.reduce((a, b) => (distance(b) < distance(a) ? b : a));
        expect(nearest).toEqual(best);
      }),
      { numRuns: 60 },
    );
  });
});

describe("bounds", () => {
  it("gives a single occurrence for an interval that passes the horizon at once", () => {
    for (const recurrence of [
      { type: 1, repeat_interval: 10_000_000 },
      { type: 2, repeat_interval: 2_000_000, weekly_days: "1" },
      { type: 3, repeat_interval: 200_000, monthly_day: 4 },
    ] as const) {
      const s = schedule("2026-01-04T10:00:00Z", "UTC", recurrence);
      expect(starts(s)).toEqual(iso("2026-01-04T10:00:00Z"));
      expect(nearestOccurrence(s, Date.parse("9999-01-01T00:00:00Z"))?.start_time).toBe(
        "2026-01-04T10:00:00.000Z",
      );
    }
  });

  it("never starts an occurrence at or after the horizon", () => {
    const s = schedule("9999-12-29T10:00:00Z", "UTC", { type: 1, repeat_interval: 1 });
    expect(starts(s)).toEqual(iso("9999-12-29T10:00:00Z", "9999-12-30T10:00:00Z"));
  });
});
