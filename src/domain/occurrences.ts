// The occurrences of a meeting (docs/CONTRACT.md §5 "recurrence", "occurrence", `series_end_date`):
// which starts a recurrence rule yields, on the wall clock of the meeting's time zone. Pure: every
// instant, "now" included, is a parameter. The decisions it makes are listed in docs/RECURRENCE.md.
//
// How it stays bounded: a rule is a pair of closed formulas over local calendar dates, "the k-th
// matching date" and "the first k whose date is on or after day d", so any window of any series
// (endless ones too) is reached by arithmetic, never by walking from start_time. A scan then looks
// at no more than `limit + excluded + SCAN_SLACK` dates, a backward search at no more than
// BACKWARD_STEPS, and nothing starts at or after HORIZON_MS.
import { DateTime, IANAZone } from "luxon";
import type { Recurrence } from "../generated/schema-types.js";

export interface Schedule {
  /** RFC 3339; the first candidate start. Sub-second digits are dropped (ids are whole seconds). */
  start_time: string;
  /** Minutes. */
  duration: number;
  /** IANA zone name; every wall-clock rule is applied in it. */
  timezone: string;
  recurrence?: Recurrence | undefined;
}

export interface OccurrenceTime {
  /** The start in unix seconds, as a string (docs/CONTRACT.md §5 "occurrence"). */
  occurrence_id: string;
  /** The start, epoch milliseconds (always a whole second). */
  start: number;
  /** The start, RFC 3339 UTC (`...Z`). */
  start_time: string;
}

export interface OccurrenceQuery {
  /** Epoch ms, inclusive; default: no lower bound (the series' first start). */
  from?: number | undefined;
  /** Epoch ms, exclusive; default: no upper bound. */
  to?: number | undefined;
  /** At most this many results; clamped to MAX_OCCURRENCES_PER_CALL. */
  limit: number;
  /** Occurrence ids to leave out (e.g. cancelled ones); they do not count toward `limit`. */
  excluded?: ReadonlySet<string> | undefined;
}

/** No call returns more occurrences than this, whatever `limit` says. */
export const MAX_OCCURRENCES_PER_CALL = 10_000;

/**
 * No occurrence starts at or after 9999-12-31T00:00:00Z (start_time itself excepted), so every
 * start and end stays a four-digit-year RFC 3339 timestamp; a rule whose count or interval would
 * reach past it ends there.
 */
export const HORIZON_MS = Date.UTC(9999, 11, 31);

/**
 * Extra candidate dates a forward scan may examine beyond what it returns: dates it starts before
 * `from` (it starts a day early, see scan) and dates with no occurrence (a day a zone skipped).
 */
const SCAN_SLACK = 16;

/** How many candidate dates a backward search examines before concluding there is none. */
const BACKWARD_STEPS = 16;

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;
const RECURRENCE_TYPE = { daily: 1, weekly: 2, monthly: 3 } as const;

/** Starts in [from, to), in order, at most `limit`, skipping ids in `excluded`. */
export function occurrencesBetween(schedule: Schedule, query: OccurrenceQuery): OccurrenceTime[] {
  if (schedule.recurrence === undefined) return singleOccurrence(schedule, query);
  const series = seriesOf(schedule);
  return scan(series, query).map(occurrenceTimeOf);
}

/**
 * The occurrences that have not ended at `now` (start + duration after now), as the meeting's
 * `occurrences` field lists them (docs/CONTRACT.md §5).
 */
export function occurrencesNotEnded(
  schedule: Schedule,
  now: number,
  options: { limit: number; excluded?: ReadonlySet<string> | undefined },
): OccurrenceTime[] {
  // start + duration > now  <=>  start >= now - duration + 1 ms (starts are whole milliseconds).
  const from = Math.floor(now) - schedule.duration * MINUTE_MS + 1;
  return occurrencesBetween(schedule, { ...options, from });
}

/** The first occurrence, or undefined when the rule yields none (e.g. it ends before its first match). */
export function firstOccurrence(schedule: Schedule): OccurrenceTime | undefined {
  return occurrencesBetween(schedule, { limit: 1 })[0];
}

/** Whether `occurrenceId` (unix seconds, canonical decimal) is exactly the start of an occurrence. */
export function isOccurrence(schedule: Schedule, occurrenceId: string): boolean {
  if (!/^(0|-?[1-9][0-9]{0,14})$/.test(occurrenceId)) return false;
  const start = Number(occurrenceId) * 1000;
  return scan(seriesOf(schedule), { from: start, to: start + 1, limit: 1 }).length === 1;
}

/**
 * The occurrence whose start is nearest to `instant` (epoch ms); on a tie the earlier one.
 * Undefined only for a series with no occurrence at all.
 */
export function nearestOccurrence(schedule: Schedule, instant: number): OccurrenceTime | undefined {
  const series = seriesOf(schedule);
  const after = scan(series, { from: instant, limit: 1 })[0];
  const before = lastStartBefore(series, instant);
  if (before === undefined) return after === undefined ? undefined : occurrenceTimeOf(after);
  if (after === undefined || instant - before <= after - instant) return occurrenceTimeOf(before);
  return occurrenceTimeOf(after);
}

/**
 * `series_end_date`: the end (start + duration) of the last occurrence, RFC 3339 UTC. Undefined
 * for an endless series, and for a rule that yields no occurrence at all.
 */
export function seriesEndDate(schedule: Schedule): string | undefined {
  const series = seriesOf(schedule);
  if (series.endTimes === Infinity && series.endMs === Infinity) return undefined;
  const last = lastStartBefore(series, Infinity);
  if (last === undefined) return undefined;
  return new Date(last + schedule.duration * MINUTE_MS).toISOString();
}

/**
 * The last occurrence starting before `instant` (epoch ms), or undefined when there is none: the
 * previous occurrence of an occurrence is the last one before its start.
 */
export function occurrenceBefore(schedule: Schedule, instant: number): OccurrenceTime | undefined {
  const before = lastStartBefore(seriesOf(schedule), instant);
  return before === undefined ? undefined : occurrenceTimeOf(before);
}

/** The last occurrence of the series; undefined for an endless series or one with none. */
export function lastOccurrence(schedule: Schedule): OccurrenceTime | undefined {
  const series = seriesOf(schedule);
  if (series.endTimes === Infinity && series.endMs === Infinity) return undefined;
  const last = lastStartBefore(series, Infinity);
  return last === undefined ? undefined : occurrenceTimeOf(last);
}

/**
 * What the clocks of `zone` show at `instant`, as epoch ms of that reading taken as UTC: a "wall
 * clock" value, on which a move by local time (docs/CONTRACT.md §12 "this_and_following") is plain
 * addition.
 */
export function wallClockOf(instant: number, zone: string): number {
  return instant + DateTime.fromMillis(instant, { zone }).offset * MINUTE_MS;
}

/**
 * The instant at which the clocks of `zone` show `wallClock` (whole seconds), with the rules of
 * the series for times shown never or twice (see wallClockInstant). On a day the zone skipped
 * altogether, the reading at the offset in force the day before.
 */
export function instantOfWallClock(wallClock: number, zone: string): number {
  const day = Math.floor(wallClock / DAY_MS);
  const seconds = Math.floor((wallClock - day * DAY_MS) / 1000);
  const time = {
    hour: Math.floor(seconds / 3600),
    minute: Math.floor((seconds % 3600) / 60),
    second: seconds % 60,
  };
  const instant = wallClockInstant(day, time, zone);
  if (instant !== undefined) return instant;
  return wallClock - DateTime.fromMillis(wallClock - DAY_MS, { zone }).offset * MINUTE_MS;
}

// ---------------------------------------------------------------------------------------------
// The series: a rule over local dates plus the time of day and the ends.

/** A local calendar date as a day number: days since 1970-01-01 (a civil count, no zone). */
type Day = number;

interface DateRule {
  /** The k-th matching local date (k >= 0); the first is on or after the start's date. */
  dateAt(k: number): Day;
  /** The smallest k whose date is on or after `day`. */
  indexOnOrAfter(day: Day): number;
}

interface TimeOfDay {
  hour: number;
  minute: number;
  second: number;
}

interface Series {
  zone: string;
  startMs: number;
  startDay: Day;
  time: TimeOfDay;
  rule: DateRule;
  /** How many indices the rule may use: end_times, cut at the horizon. */
  indexEnd: number;
  endTimes: number;
  /** end_date_time (exclusive), or Infinity. */
  endMs: number;
  horizonMs: number;
}

/**
 * Zone names found valid. luxon's IANAZone.isValidZone builds a new Intl.DateTimeFormat on every
 * call: about 0.2 ms, and native memory that the GC gives back late (20,000 calls left 500 MB of
 * RSS), while every read of a meeting checks its zone. Valid names are few, so they are remembered;
 * the cap only guards against a flood of case variants, which are valid too.
 */
const knownZones = new Set<string>();
const KNOWN_ZONES_CAP = 2000;

export function isKnownZone(zone: string): boolean {
  if (knownZones.has(zone)) return true;
  if (!IANAZone.isValidZone(zone)) return false;
  if (knownZones.size < KNOWN_ZONES_CAP) knownZones.add(zone);
  return true;
}

function seriesOf(schedule: Schedule): Series {
  const zone = schedule.timezone;
  if (!isKnownZone(zone)) throw new RangeError(`not an IANA time zone: ${zone}`);
  const startMs = Math.floor(parseInstant(schedule.start_time) / 1000) * 1000;
  const start = DateTime.fromMillis(startMs, { zone });
  const startDay = dayNumber(start.year, start.month, start.day);
  const recurrence = schedule.recurrence;
  const rule = recurrence === undefined ? dailyRule(startDay, 1) : ruleOf(recurrence, startDay);
  // A meeting without recurrence is a series of exactly one: its start_time.
  const endTimes = recurrence === undefined ? 1 : countOf(recurrence.end_times);
  const endMs =
    recurrence?.end_date_time === undefined ? Infinity : parseInstant(recurrence.end_date_time);
  const horizonMs = Math.max(HORIZON_MS, startMs + 1);
  // Dates two days past the horizon's local date can only give starts past it.
  const horizonDay = horizonMs === HORIZON_MS ? horizonDayIn(zone) : localDay(horizonMs, zone);
  const indexEnd = Math.min(endTimes, rule.indexOnOrAfter(horizonDay + 2));
  return {
    zone,
    startMs,
    startDay,
    time: { hour: start.hour, minute: start.minute, second: start.second },
    rule,
    indexEnd,
    endTimes,
    endMs,
    horizonMs,
  };
}

/**
 * A meeting without recurrence is a series of exactly one, its start_time: what scan() over
 * seriesOf() gives, without luxon's date arithmetic, which was ~5% of every read (bench/).
 */
function singleOccurrence(schedule: Schedule, query: OccurrenceQuery): OccurrenceTime[] {
  const zone = schedule.timezone;
  if (!isKnownZone(zone)) throw new RangeError(`not an IANA time zone: ${zone}`);
  const start = Math.floor(parseInstant(schedule.start_time) / 1000) * 1000;
  const limit = Math.min(Math.floor(query.limit), MAX_OCCURRENCES_PER_CALL);
  const inRange = (query.from ?? -Infinity) <= start && start < (query.to ?? Infinity);
  if (!inRange || !(limit > 0) || query.excluded?.has(occurrenceIdOf(start)) === true) return [];
  return [occurrenceTimeOf(start)];
}

/** The start of the k-th matching date, or undefined when that date has no such local time. */
function startAt(series: Series, k: number): number | undefined {
  const day = series.rule.dateAt(k);
  // start_time is its own first occurrence even when it is the later of two equal local times.
  if (day === series.startDay) return series.startMs;
  return wallClockInstant(day, series.time, series.zone);
}

/** The starts in [from, to) in order; see OccurrenceQuery. */
function scan(series: Series, query: OccurrenceQuery): number[] {
  const limit = Math.min(Math.floor(query.limit), MAX_OCCURRENCES_PER_CALL);
  const excluded = query.excluded ?? new Set<string>();
  const lower = Math.max(query.from ?? -Infinity, series.startMs);
  const upper = Math.min(query.to ?? Infinity, series.endMs, series.horizonMs);
  const starts: number[] = [];
  if (!(lower < upper) || !(limit > 0)) return starts;
  // A start's local date can be a day before the local date of an earlier instant (a clock set
  // back across midnight), never more: starting a day early cannot miss one.
  let k =
    lower <= series.startMs ? 0 : series.rule.indexOnOrAfter(localDay(lower, series.zone) - 1);
  let budget = limit + excluded.size + SCAN_SLACK;
  for (; k < series.indexEnd && starts.length < limit && budget > 0; k++, budget--) {
    const start = startAt(series, k);
    if (start === undefined || start < lower) continue;
    if (start >= upper) break;
    if (!excluded.has(occurrenceIdOf(start))) starts.push(start);
  }
  return starts;
}

/** The last start before `instant` (within end_times, end_date_time and the horizon). */
function lastStartBefore(series: Series, instant: number): number | undefined {
  const upper = Math.min(instant, series.endMs, series.horizonMs);
  if (upper <= series.startMs) return undefined;
  // A start before `upper` has a local date at most one day after upper's (a skipped day).
  const after = series.rule.indexOnOrAfter(localDay(upper, series.zone) + 2);
  let k = Math.min(after, series.indexEnd) - 1;
  for (let steps = 0; k >= 0 && steps < BACKWARD_STEPS; k--, steps++) {
    const start = startAt(series, k);
    if (start !== undefined && start < upper) return start;
  }
  return undefined;
}

function occurrenceTimeOf(start: number): OccurrenceTime {
  return {
    occurrence_id: occurrenceIdOf(start),
    start,
    start_time: new Date(start).toISOString(),
  };
}

function occurrenceIdOf(start: number): string {
  return String(Math.floor(start / 1000));
}

// ---------------------------------------------------------------------------------------------
// Rules: each turns a recurrence into the two formulas of DateRule.

function ruleOf(recurrence: Recurrence, startDay: Day): DateRule {
  // The schema guarantees an integer >= 1; a value that is not one still gets a sane interval.
  const interval = Number.isFinite(recurrence.repeat_interval)
    ? Math.max(1, Math.floor(recurrence.repeat_interval))
    : 1;
  switch (recurrence.type) {
    case RECURRENCE_TYPE.daily:
      return dailyRule(startDay, interval);
    case RECURRENCE_TYPE.weekly:
      return weeklyRule(startDay, interval, weekdaysOf(recurrence.weekly_days, startDay));
    case RECURRENCE_TYPE.monthly:
      return monthlyRule(startDay, interval, dayInMonthRule(recurrence, startDay));
  }
}

/** Every `interval` days from the start's date. */
function dailyRule(startDay: Day, interval: number): DateRule {
  return {
    dateAt: (k) => startDay + k * interval,
    indexOnOrAfter: (day) => Math.max(0, Math.ceil((day - startDay) / interval)),
  };
}

/**
 * The listed weekdays of every `interval`-th week. Weeks run Sunday to Saturday (as weekly_days
 * numbers them) and are counted from the week holding the start's date; in that first week only
 * the days on or after the start's date count, so end_times never counts a day before the start.
 */
function weeklyRule(startDay: Day, interval: number, weekdays: readonly number[]): DateRule {
  const firstSunday = startDay - sundayOffset(startDay);
  const firstWeek = weekdays.filter((weekday) => weekday >= startDay - firstSunday);
  const period = 7 * interval;
  const perWeek = weekdays.length;
  const countBefore = (days: readonly number[], offset: number): number =>
    days.filter((weekday) => weekday < offset).length;
  return {
    dateAt(k) {
      if (k < firstWeek.length) return firstSunday + at(firstWeek, k);
      const rest = k - firstWeek.length;
      const week = 1 + Math.floor(rest / perWeek);
      return firstSunday + week * period + at(weekdays, rest % perWeek);
    },
    indexOnOrAfter(day) {
      if (day <= startDay) return 0;
      const periods = Math.floor((day - firstSunday) / period);
      const offset = day - firstSunday - periods * period;
      if (periods === 0) return countBefore(firstWeek, offset);
      return firstWeek.length + (periods - 1) * perWeek + countBefore(weekdays, offset);
    },
  };
}

/**
 * One date in every `interval`-th month, counted from the start's month; in the start's month
 * only when that date is not before the start's date.
 */
function monthlyRule(
  startDay: Day,
  interval: number,
  dayInMonth: (year: number, month: number) => number,
): DateRule {
  const start = civilDate(startDay);
  const startMonth = monthIndex(start.year, start.month);
  const dateInMonth = (index: number): Day => {
    const year = Math.floor(index / 12);
    const month = index - year * 12 + 1;
    return dayNumber(year, month, dayInMonth(year, month));
  };
  const skipped = dateInMonth(startMonth) < startDay ? 1 : 0;
  return {
    dateAt: (k) => dateInMonth(startMonth + (k + skipped) * interval),
    indexOnOrAfter(day) {
      if (day <= startDay) return 0;
      const date = civilDate(day);
      const month = monthIndex(date.year, date.month);
      let j = Math.ceil((month - startMonth) / interval);
      if (startMonth + j * interval === month && dateInMonth(month) < day) j += 1;
      return Math.max(0, j - skipped);
    },
  };
}

/** The day-of-month rule of a monthly recurrence (docs/CONTRACT.md §5). */
function dayInMonthRule(
  recurrence: Recurrence,
  startDay: Day,
): (year: number, month: number) => number {
  const { monthly_day: monthlyDay, monthly_week: week, monthly_week_day: weekDay } = recurrence;
  if (monthlyDay !== undefined && monthlyDay >= 1 && Number.isInteger(monthlyDay)) {
    return (year, month) => clampedDay(year, month, monthlyDay);
  }
  // The schema requires monthly_week and monthly_week_day together; with only one of them the
  // rule falls back to the start's day of the month, like a monthly rule without a day rule.
  if (week !== undefined && weekDay !== undefined && isWeekdayNumber(weekDay)) {
    const weekday = weekDay - 1;
    if (week === -1) {
      return (year, month) => {
        const last = daysInMonth(year, month);
        const lastWeekday = sundayOffset(dayNumber(year, month, last));
        return last - ((lastWeekday - weekday + 7) % 7);
      };
    }
    // Weeks 1..4 exist in every month (28 days hold four of each weekday), so this always matches.
    return (year, month) => {
      const firstWeekday = sundayOffset(dayNumber(year, month, 1));
      return 1 + ((weekday - firstWeekday + 7) % 7) + 7 * (week - 1);
    };
  }
  const startDate = civilDate(startDay).day;
  return (year, month) => clampedDay(year, month, startDate);
}

/** Listed weekdays as offsets from Sunday (0..6), sorted; the start's weekday when none are listed. */
function weekdaysOf(weeklyDays: string | undefined, startDay: Day): number[] {
  const listed = (weeklyDays ?? "")
    .split(",")
    .map(Number)
    .filter(isWeekdayNumber)
    .map((weekday) => weekday - 1);
  if (listed.length === 0) return [sundayOffset(startDay)];
  return [...new Set(listed)].sort((a, b) => a - b);
}

function isWeekdayNumber(value: number): boolean {
  return Number.isInteger(value) && value >= 1 && value <= 7;
}

function countOf(endTimes: number | undefined): number {
  if (endTimes === undefined) return Infinity;
  return Math.max(0, Math.floor(endTimes));
}

// ---------------------------------------------------------------------------------------------
// Time and calendar, all through luxon: calendar arithmetic runs in UTC, where a day is exactly
// DAY_MS; zone offsets are only ever luxon's.

/**
 * The instant at which the zone's clocks show `time` on `day`, or undefined when that day never
 * shows it. A time in a spring-forward gap is moved forward by the gap's length (luxon: 02:30 on a
 * 02:00 -> 03:00 night becomes 03:30); a time shown twice on a fall-back night is its earlier
 * instant (the offset before the change). A day the zone skipped altogether (Pacific/Apia,
 * 2011-12-30), where even the moved time lands on the next day, has no occurrence.
 */
function wallClockInstant(day: Day, time: TimeOfDay, zone: string): number | undefined {
  const date = civilDate(day);
  // luxon settles an ambiguous local time from the offset of the DateTime it is set on; starting
  // from an instant on that same date (not from the clock, as fromObject would) keeps the result
  // a function of the inputs, and getPossibleOffsets then lets us pick the earlier one explicitly.
  const near = DateTime.fromMillis(day * DAY_MS, { zone });
  const local = near.set({
    year: date.year,
    month: date.month,
    day: date.day,
    hour: time.hour,
    minute: time.minute,
    second: time.second,
    millisecond: 0,
  });
  const instant = Math.min(...local.getPossibleOffsets().map((candidate) => candidate.toMillis()));
  const shown = DateTime.fromMillis(instant, { zone });
  if (shown.year !== date.year || shown.month !== date.month || shown.day !== date.day) {
    return undefined;
  }
  return instant;
}

/** The local date of HORIZON_MS per zone: every series needs it (luxon, ~3% of a read). */
const horizonDays = new Map<string, Day>();

function horizonDayIn(zone: string): Day {
  let day = horizonDays.get(zone);
  if (day === undefined) {
    day = localDay(HORIZON_MS, zone);
    if (horizonDays.size < KNOWN_ZONES_CAP) horizonDays.set(zone, day);
  }
  return day;
}

function localDay(instant: number, zone: string): Day {
  const local = DateTime.fromMillis(instant, { zone });
  return dayNumber(local.year, local.month, local.day);
}

function dayNumber(year: number, month: number, day: number): Day {
  return DateTime.utc(year, month, day).toMillis() / DAY_MS;
}

function civilDate(day: Day): DateTime {
  return DateTime.fromMillis(day * DAY_MS, { zone: "utc" });
}

/** 0 for Sunday .. 6 for Saturday (luxon numbers Monday 1 .. Sunday 7). */
function sundayOffset(day: Day): number {
  return civilDate(day).weekday % 7;
}

function daysInMonth(year: number, month: number): number {
  const days = DateTime.utc(year, month, 1).daysInMonth;
  if (days === undefined) throw new RangeError(`no calendar month ${year}-${month}`);
  return days;
}

function clampedDay(year: number, month: number, day: number): number {
  return Math.min(day, daysInMonth(year, month));
}

function monthIndex(year: number, month: number): number {
  return year * 12 + month - 1;
}

/** How timestamps are stored (UTC, rpc/utc-timestamps.ts): read without luxon, ~5% of a read. */
const UTC_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;

function parseInstant(text: string): number {
  if (UTC_TIMESTAMP.test(text)) {
    const ms = Date.parse(text);
    // Date.parse rolls impossible dates over (February 30 becomes March 2): not those.
    if (!Number.isNaN(ms) && new Date(ms).toISOString().startsWith(text.slice(0, 19))) return ms;
  }
  // RFC 3339 also allows a lower-case "t"/"z" and a space between date and time; luxon's ISO
  // parser wants the upper-case "T" form.
  const iso = text
    .trim()
    .toUpperCase()
    .replace(/^(\d{4}-\d{2}-\d{2}) /, "$1T");
  const parsed = DateTime.fromISO(iso, { setZone: true });
  if (!parsed.isValid) throw new RangeError(`not an RFC 3339 date-time: ${text}`);
  return parsed.toMillis();
}

function at(list: readonly number[], index: number): number {
  const value = list[index];
  if (value === undefined) throw new RangeError(`index ${index} outside a list of ${list.length}`);
  return value;
}
