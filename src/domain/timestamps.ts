// Timestamps as replies carry them (CONTRACT §3: RFC 3339 in UTC). Pure.
//
// One format for every timestamp the service writes: `YYYY-MM-DDTHH:mm:ss.sssZ`, always with
// three fractional digits, which is what `Date.prototype.toISOString()` makes. Server-set times
// (`created_at`, `updated_at`, `series_end_date`, occurrences, events) are made with it, and the
// adapter rewrites every date-time of a request into it (rpc/utc-timestamps.ts), so a reply never
// mixes `...:00Z` with `...:00.000Z`, and stored timestamps compare correctly as strings.

/**
 * A client's RFC 3339 date-time in the one format: converted to UTC, milliseconds always written,
 * digits past the millisecond dropped. A value Date cannot read (a leap second, `...:60Z`) is left
 * as it is: the schema accepted it.
 */
export function toUtc(timestamp: string): string {
  const instant = Date.parse(timestamp.toUpperCase().replace(" ", "T"));
  return Number.isNaN(instant) ? timestamp : utcTimestamp(instant);
}

/** An instant (ms since the epoch) in the one format. */
export function utcTimestamp(instant: number): string {
  return new Date(instant).toISOString();
}
