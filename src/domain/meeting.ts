// Rules of the meeting entity that are not schema rules (docs/CONTRACT.md §5). Pure: time is passed
// in.
import { editedSeriesEndDate, ruleScheduleOf, type EditableMeeting } from "./occurrence-edits.js";
import { firstOccurrence } from "./occurrences.js";
import { invalidField } from "../errors.js";

export const DEFAULT_PLATFORM = "Zoom";
export const DEFAULT_EARLY_JOIN_TIME_MINUTES = 10;

/**
 * The schedule-derived fields of a meeting: `series_end_date` (absent for an endless series), the
 * end of its last occurrence as edited (docs/CONTRACT.md §12). A recurrence that yields no
 * occurrence at all (e.g. ending before it starts) is refused.
 */
export function scheduleFields(meeting: EditableMeeting): { series_end_date?: string } {
  const rule = ruleScheduleOf(meeting);
  if (rule.recurrence !== undefined && firstOccurrence(rule) === undefined) {
    throw invalidField("/recurrence", "yields no occurrence: it ends before its first start");
  }
  const end = editedSeriesEndDate(meeting);
  return end === undefined ? {} : { series_end_date: end };
}
