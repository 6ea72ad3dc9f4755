// Rules of the meeting entity that are not schema rules (CONTRACT §5). Pure: time is passed in.
import { firstOccurrence, seriesEndDate, type Schedule } from "./occurrences.js";
import { invalidField } from "../errors.js";

export const DEFAULT_PLATFORM = "Zoom";
export const DEFAULT_EARLY_JOIN_TIME_MINUTES = 10;

/**
 * The schedule-derived fields of a meeting: `series_end_date` (absent for an endless series).
 * A recurrence that yields no occurrence at all (e.g. ending before it starts) is refused.
 */
export function scheduleFields(schedule: Schedule): { series_end_date?: string } {
  if (schedule.recurrence !== undefined && firstOccurrence(schedule) === undefined) {
    throw invalidField("/recurrence", "yields no occurrence: it ends before its first start");
  }
  const end = seriesEndDate(schedule);
  return end === undefined ? {} : { series_end_date: end };
}
