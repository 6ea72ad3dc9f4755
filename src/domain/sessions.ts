// How sessions open and close (docs/CONTRACT.md §4 "Lifecycle rules", §5 "past meeting",
// "participant"): a past meeting's sessions between start and end, a participant's between join
// and leave. Pure: instants and new ids are parameters (docs/LIFECYCLE.md).
import { invalidField } from "../errors.js";
import type { ParticipantSession, PastMeetingSession } from "../generated/schema-types.js";

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
