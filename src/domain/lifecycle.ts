// Rules of a meeting's life after it is scheduled (docs/CONTRACT.md §4 "Lifecycle rules", §5 "past
// meeting", "participant", "recording", "summary"): which occurrence a start belongs to, what a
// past meeting copies from its meeting, how sessions open and close, what an artifact's totals
// are. Pure: instants and new ids are parameters. The decisions are listed in docs/LIFECYCLE.md.
import { utcTimestamp } from "./timestamps.js";
import { invalidField } from "../errors.js";
import type {
  ArtifactFile,
  Meeting,
  ParticipantSession,
  PastMeetingSession,
} from "../generated/schema-types.js";
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

/**
 * Whether a registration covers an occurrence: a registrant without occurrence_id is registered
 * for every occurrence, one with it for that occurrence only.
 */
export function registrationCovers(
  registrant: { occurrence_id?: string },
  occurrenceId: string | undefined,
): boolean {
  return registrant.occurrence_id === undefined || registrant.occurrence_id === occurrenceId;
}

/** A session is open while it has no end; only the last one can be. */
function lastOpen<T>(sessions: readonly T[], isOpen: (s: T) => boolean): T | undefined {
  const last = sessions[sessions.length - 1];
  return last !== undefined && isOpen(last) ? last : undefined;
}

/** The sessions with a new open one, or null when one is open already (a repeated start). */
export function openMeetingSession(
  sessions: readonly PastMeetingSession[],
  uid: string,
  startedAt: string,
): PastMeetingSession[] | null {
  if (lastOpen(sessions, (s) => s.end_time === undefined) !== undefined) return null;
  return [...sessions, { uid, start_time: startedAt }];
}

/**
 * The sessions with the open one closed at `endedAt`, or null when none is open. An end before
 * the session's start is a 400 naming /ended_at.
 */
export function closeMeetingSession(
  sessions: readonly PastMeetingSession[],
  endedAt: string,
): PastMeetingSession[] | null {
  const open = lastOpen(sessions, (s) => s.end_time === undefined);
  if (open === undefined) return null;
  if (Date.parse(endedAt) < Date.parse(open.start_time)) {
    throw invalidField("/ended_at", `is before the start of the open session (${open.start_time})`);
  }
  return [...sessions.slice(0, -1), { ...open, end_time: endedAt }];
}

/** The participant's sessions with a new open one, or null when one is open already. */
export function openAttendance(
  sessions: readonly ParticipantSession[],
  uid: string,
  joinedAt: string,
): ParticipantSession[] | null {
  if (lastOpen(sessions, (s) => s.leave_time === undefined) !== undefined) return null;
  return [...sessions, { uid, join_time: joinedAt }];
}

/**
 * The participant's sessions with the open one closed, or null when none is open. A leave before
 * the join is a 400 naming /left_at.
 */
export function closeAttendance(
  sessions: readonly ParticipantSession[],
  leftAt: string,
  leaveReason: string | undefined,
): ParticipantSession[] | null {
  const open = lastOpen(sessions, (s) => s.leave_time === undefined);
  if (open === undefined) return null;
  if (Date.parse(leftAt) < Date.parse(open.join_time)) {
    throw invalidField("/left_at", `is before the join of the open session (${open.join_time})`);
  }
  const closed: ParticipantSession = { ...open, leave_time: leftAt };
  if (leaveReason !== undefined) closed.leave_reason = leaveReason;
  return [...sessions.slice(0, -1), closed];
}

/** total_size (the sum of file_size, absent counting 0) and the number of files. */
export function artifactTotals(files: readonly ArtifactFile[]): { size: number; count: number } {
  return {
    size: files.reduce((sum, file) => sum + (file.file_size ?? 0), 0),
    count: files.length,
  };
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

/** Adds `uid` to a list of artifact uids unless present; removes it. Order of creation is kept. */
export function withUid(uids: readonly string[], uid: string): string[] {
  return uids.includes(uid) ? [...uids] : [...uids, uid];
}

export function withoutUid(uids: readonly string[], uid: string): string[] {
  return uids.filter((u) => u !== uid);
}
