// Rules of the meeting entity that are not schema rules (CONTRACT §5). Pure: time is passed in.
import type { Recurrence } from "../generated/schema-types.js";

export const DEFAULT_PLATFORM = "Zoom";
export const DEFAULT_EARLY_JOIN_TIME_MINUTES = 10;

/**
 * `series_end_date`: the end (start + duration) of the last occurrence. A meeting without
 * recurrence ends at start_time + duration. For a recurring meeting the occurrence engine decides
 * (endless series have none); until it exists the field is left out.
 */
export function seriesEndDate(
  startTime: string,
  durationMinutes: number,
  recurrence: Recurrence | undefined,
): string | undefined {
  if (recurrence !== undefined) return undefined;
  return new Date(Date.parse(startTime) + durationMinutes * 60_000).toISOString();
}
