// A meeting's recurrence (docs/CONTRACT.md §5 "recurrence", docs/RECURRENCE.md) as an RFC 5545
// RRULE, so that a calendar client expanding it gets exactly the starts src/domain/occurrences.ts
// computes. Pure. DTSTART must be the series' first occurrence (not start_time, which is an
// occurrence only when it matches the rule): RFC 5545 leaves a DTSTART outside its rule undefined.
import { DateTime } from "luxon";
import type { Recurrence } from "../generated/schema-types.js";

export type Weekday = "SU" | "MO" | "TU" | "WE" | "TH" | "FR" | "SA";

/** The parts of an RRULE, named as ical-generator's repeating options name them. */
export interface RepeatRule {
  freq: "DAILY" | "WEEKLY" | "MONTHLY";
  interval: number;
  byDay?: Weekday[];
  byMonthDay?: number[];
  bySetPos?: number;
  count?: number;
  /** Epoch ms, inclusive (RRULE's UNTIL), written in UTC. */
  until?: number;
}

/** weekly_days numbers days 1 = Sunday .. 7 = Saturday. */
const WEEKDAYS: readonly Weekday[] = ["SU", "MO", "TU", "WE", "TH", "FR", "SA"];
const ALL_WEEKDAYS: Weekday[] = [...WEEKDAYS];
/** Days of the month that every month has: a monthly_day up to this needs no clamping. */
const SHORTEST_MONTH = 28;
const LONGEST_MONTH = 31;

/**
 * The rule of `recurrence` for a series whose start_time is `startTime` in `zone`. Weeks start on
 * Sunday (WKST=SU), as the occurrence engine counts them.
 */
export function repeatRuleOf(recurrence: Recurrence, startTime: string, zone: string): RepeatRule {
  const start = DateTime.fromISO(startTime, { zone });
  const interval = Math.max(1, Math.floor(recurrence.repeat_interval));
  const rule: RepeatRule = { freq: "DAILY", interval, ...endOf(recurrence) };
  switch (recurrence.type) {
    case 1:
      return rule;
    case 2:
      return { ...rule, freq: "WEEKLY", byDay: weeklyDaysOf(recurrence.weekly_days, start) };
    case 3:
      return { ...rule, freq: "MONTHLY", ...monthlyDayOf(recurrence, start) };
  }
}

function endOf(recurrence: Recurrence): Pick<RepeatRule, "count" | "until"> {
  if (recurrence.end_times !== undefined) return { count: recurrence.end_times };
  if (recurrence.end_date_time !== undefined) {
    // end_date_time is exclusive and UNTIL inclusive; starts are whole seconds, so the last second
    // before it is the same bound.
    return { until: Date.parse(recurrence.end_date_time) - 1000 };
  }
  return {};
}

function weeklyDaysOf(weeklyDays: string | undefined, start: DateTime): Weekday[] {
  if (weeklyDays === undefined) return [weekdayOf(start)];
  const numbers = [...new Set(weeklyDays.split(",").map(Number))].sort((a, b) => a - b);
  return numbers.map((n) => WEEKDAYS[n - 1] ?? "SU");
}

/** luxon numbers weekdays 1 = Monday .. 7 = Sunday. */
function weekdayOf(date: DateTime): Weekday {
  return WEEKDAYS[date.weekday % 7] ?? "SU";
}

function monthlyDayOf(
  recurrence: Recurrence,
  start: DateTime,
): Pick<RepeatRule, "byDay" | "byMonthDay" | "bySetPos"> {
  const { monthly_week: week, monthly_week_day: weekday } = recurrence;
  if (week !== undefined && weekday !== undefined) {
    // "the 2nd Tuesday", "the last Friday": BYDAY=TU;BYSETPOS=2 (ical-generator's form of 2TU).
    return { byDay: [WEEKDAYS[weekday - 1] ?? "SU"], bySetPos: week };
  }
  const day = recurrence.monthly_day ?? start.day;
  if (day <= SHORTEST_MONTH) return { byMonthDay: [day] };
  // A day past a month's end falls on its last day: 31 is every month's last day.
  if (day === LONGEST_MONTH) return { byMonthDay: [-1] };
  // 29 and 30: the latest of 28..day that the month has. BYDAY with every weekday restricts
  // nothing; ical-generator writes BYSETPOS only beside BYDAY. Exact per RFC 5545, but not every
  // client applies BYSETPOS to BYMONTHDAY (ical.js does not: it shows 28..day in every month).
  const candidates = Array.from({ length: day - SHORTEST_MONTH + 1 }, (_, i) => SHORTEST_MONTH + i);
  return { byMonthDay: candidates, byDay: ALL_WEEKDAYS, bySetPos: -1 };
}
