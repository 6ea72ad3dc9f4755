// Timestamps as replies carry them (docs/CONTRACT.md §3): RFC 3339 in UTC (`...Z`). Pure.

const UTC_TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

/**
 * A client's RFC 3339 date-time in UTC. One given in UTC is kept exactly as given; another offset
 * is converted, with milliseconds only when it has them. A value Date cannot read (a leap second)
 * is left as it is: the schema accepted it.
 */
export function toUtc(timestamp: string): string {
  const upper = timestamp.toUpperCase().replace(" ", "T");
  if (UTC_TIMESTAMP.test(upper)) return upper;
  const instant = Date.parse(upper);
  return Number.isNaN(instant) ? timestamp : utcTimestamp(instant);
}

/** RFC 3339 UTC, with milliseconds only when there are any. */
export function utcTimestamp(instant: number): string {
  return new Date(instant).toISOString().replace(".000Z", "Z");
}
