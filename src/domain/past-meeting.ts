// What a past meeting takes from its meeting (docs/CONTRACT.md §4 "Lifecycle rules", §5 "past
// meeting"): which occurrence a start belongs to, the snapshot of the meeting's fields, the
// scheduled times. Pure: instants are parameters. The decisions are listed in docs/LIFECYCLE.md;
// sessions are in sessions.ts, artifact totals and uid lists in artifacts.ts.
import { utcTimestamp } from "./timestamps.js";
import { invalidField } from "../errors.js";
import type { Meeting } from "../generated/schema-types.js";
import {
  editedOccurrenceOf,
  nearestEditedOccurrence,
  type EditableMeeting,
  type EditedOccurrence,
} from "./occurrence-edits.js";

const MINUTE_MS = 60_000;

/**
 * The meeting's descriptive fields a past meeting keeps as they were at its start. Not copied:
 * what identifies or counts the meeting (uid, project_uid is a field of its own, registrant_count,
 * occurrences), its schedule as a whole (start_time, series_end_date: the past meeting has the
 * scheduled times of its one occurrence instead) and its timestamps.
 */
export const SNAPSHOT_FIELDS = [
  "title",
  "description",
  "timezone",
  "duration",
  "recurrence",
  "committees",
  "platform",
  "early_join_time_minutes",
  "meeting_type",
  "visibility",
  "restricted",
  "artifact_visibility",
  "public_link",
  "recording_enabled",
  "transcript_enabled",
  "youtube_upload_enabled",
  "show_meeting_attendees",
  "zoom_config",
] as const satisfies readonly (keyof Meeting)[];

export type MeetingSnapshot = Pick<Meeting, (typeof SNAPSHOT_FIELDS)[number]>;

/** The snapshot fields the meeting has (absent optional fields stay absent). */
export function meetingSnapshot(meeting: MeetingSnapshot): MeetingSnapshot {
  const snapshot: Partial<Record<keyof MeetingSnapshot, unknown>> = {};
  for (const field of SNAPSHOT_FIELDS) {
    const value = meeting[field];
    if (value !== undefined) snapshot[field] = structuredClone(value);
  }
  return snapshot as MeetingSnapshot;
}

export interface ScheduledOccurrence {
  occurrence_id: string;
  scheduled_start_time: string;
  /** The occurrence's start + its duration, both as edited (docs/CONTRACT.md §12). */
  scheduled_end_time: string;
}

function scheduledTimes(occurrence: EditedOccurrence): ScheduledOccurrence {
  return {
    occurrence_id: occurrence.occurrence_id,
    scheduled_start_time: utcTimestamp(occurrence.start),
    scheduled_end_time: utcTimestamp(occurrence.start + occurrence.duration * MINUTE_MS),
  };
}

/**
 * The occurrence a start belongs to: `occurrenceId` when it is one of the meeting's, otherwise
 * (none given) the occurrence whose scheduled start (as edited) is nearest to `startedAtMs` (on a
 * tie the earlier). Undefined when the id is not an occurrence, or the meeting has none: a 404 to
 * the caller. Cancelled occurrences count: a meeting may take place although it was cancelled.
 */
export function occurrenceOfStart(
  meeting: EditableMeeting,
  occurrenceId: string | undefined,
  startedAtMs: number,
): ScheduledOccurrence | undefined {
  const occurrence =
    occurrenceId === undefined
      ? nearestEditedOccurrence(meeting, startedAtMs)
      : editedOccurrenceOf(meeting, occurrenceId);
  return occurrence === undefined ? undefined : scheduledTimes(occurrence);
}

/**
 * The meeting as one of its occurrences shows it: that occurrence's duration, title and
 * description as edited, for the snapshot a past meeting keeps.
 */
export function meetingAsOccurrence<M extends EditableMeeting>(
  meeting: M,
  occurrenceId: string,
): M {
  const occurrence = editedOccurrenceOf(meeting, occurrenceId);
  if (occurrence === undefined) return meeting;
  const shown: M = { ...meeting, duration: occurrence.duration, title: occurrence.title };
  if (occurrence.description === undefined) delete shown.description;
  else shown.description = occurrence.description;
  return shown;
}

/** A past meeting's scheduled end may not be before its scheduled start. */
export function checkScheduledTimes(times: {
  scheduled_start_time: string;
  scheduled_end_time: string;
}): void {
  if (Date.parse(times.scheduled_end_time) < Date.parse(times.scheduled_start_time)) {
    throw invalidField("/scheduled_end_time", "is before scheduled_start_time");
  }
}
