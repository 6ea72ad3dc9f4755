// The writes of a past meeting under its start claim (docs/CONTRACT.md §4 "Lifecycle rules", §5
// "past meeting"): create, start (a first one creates the past meeting, every other one opens a
// session on it), end, and the claim's release on delete. One past meeting per (meeting,
// occurrence): a create-only claim `unique/start/{meeting_uid}/{occurrence_id}` names the pair
// and holds the past meeting's uid. The start that wins it creates the past meeting; every other
// start, on any instance and at the same moment too, finds the claim's holder and returns it
// (opening a session when none is open). Write order (crash-safe): docs/ARCHITECTURE.md "Writes".
import {
  checkScheduledTimes,
  meetingAsOccurrence,
  meetingSnapshot,
  occurrenceOfStart,
} from "../domain/past-meeting.js";
import { closeMeetingSession, openMeetingSession } from "../domain/sessions.js";
import { applyMergePatch, type JsonObject } from "../domain/merge-patch.js";
import { AppError, conflict, invalidField, notFound, unavailable } from "../errors.js";
import type {
  PastMeeting,
  PastMeetingsEndRequest,
  PastMeetingsStartRequest,
} from "../generated/schema-types.js";
import { Claims } from "../store/kv/claims.js";
import { directKey } from "../store/kv/keys.js";
import { modifyAtRevision } from "../store/kv/modify.js";
import type { StoredMeeting } from "../store/resources/meetings.js";
import {
  pastMeetingStartClaimKey,
  type StoredPastMeeting,
} from "../store/resources/past-meetings.js";
import type { HandlerDeps } from "./deps.js";
import { artifactLists } from "./artifact-lists.js";
import { inviteRegistrants } from "./participant-attendance.js";

/** Rounds of claim -> read before a start that keeps finding a past meeting in the making gives up. */
const MAX_START_ATTEMPTS = 50;

export function occurrenceNotFound(meetingUid: string, occurrenceId: string | undefined): AppError {
  return new AppError(
    "not_found",
    occurrenceId === undefined
      ? `meeting ${meetingUid} has no occurrence`
      : `occurrence ${occurrenceId} of meeting ${meetingUid} not found`,
  );
}

export /** Merge-patch for past meetings: `recurrence` is replaced as a whole, as in meetings. */
function applyPastMeetingPatch(current: StoredPastMeeting, patch: JsonObject): StoredPastMeeting {
  for (const field of ["meeting_uid", "occurrence_id"] as const) {
    if (patch[field] !== undefined && patch[field] !== current[field]) {
      throw invalidField(`/${field}`, "cannot change: a past meeting records one occurrence");
    }
  }
  const { recurrence, ...rest } = patch;
  const base: StoredPastMeeting = { ...current };
  if (recurrence !== undefined) {
    delete base.recurrence;
    if (recurrence !== null) {
      base.recurrence = recurrence as NonNullable<StoredPastMeeting["recurrence"]>;
    }
  }
  const merged = applyMergePatch(base, rest);
  checkScheduledTimes(merged);
  return merged;
}

export interface PastMeetingWrites {
  /** The new past meeting `pastMeeting` under its start claim (a 409 when another holds it). */
  create(pastMeeting: StoredPastMeeting): Promise<PastMeeting>;
  /** lfx.past-meetings.start of `meeting`'s occurrence; `uid` for the past meeting it may create. */
  start(
    meeting: StoredMeeting,
    request: PastMeetingsStartRequest,
    uid: string,
  ): Promise<PastMeeting>;
  /** lfx.past-meetings.end: closes the open session. */
  end(request: PastMeetingsEndRequest): Promise<PastMeeting>;
  /** The past meeting a create makes: the meeting's snapshot and the occurrence's times. */
  newPastMeeting: NewPastMeeting;
  /** After a delete: the deleted past meeting's start claim goes. */
  releaseClaim(deleted: StoredPastMeeting): Promise<void>;
}

type NewPastMeeting = (
  meeting: StoredMeeting,
  fields: Pick<StoredPastMeeting, "uid" | "scheduled_start_time" | "scheduled_end_time"> &
    Partial<StoredPastMeeting>,
) => StoredPastMeeting;

export function pastMeetingWrites(deps: HandlerDeps): PastMeetingWrites {
  const { repos, now } = deps;
  const pastMeetings = repos.pastMeetings;
  const claims = new Claims(repos.pastMeetingClaims, now);
  const lists = artifactLists(deps);

  function startClaimKey(pastMeeting: StoredPastMeeting): string | undefined {
    const { meeting_uid, occurrence_id } = pastMeeting;
    return occurrence_id === undefined
      ? undefined
      : pastMeetingStartClaimKey(meeting_uid, occurrence_id);
  }

  /** Writes a past meeting whose claim (if any) it holds; the claim is released if that fails. */
  async function createClaimed(pastMeeting: StoredPastMeeting): Promise<PastMeeting> {
    const revision = await claims.createClaimed({
      key: startClaimKey(pastMeeting),
      uid: pastMeeting.uid,
      create: () => pastMeetings.createIndexed(pastMeeting),
    });
    return lists.reply(pastMeeting, revision);
  }

  /** The past meeting a start or create makes: the meeting's snapshot and the occurrence's times. */
  function newPastMeeting(
    meeting: StoredMeeting,
    fields: Pick<StoredPastMeeting, "uid" | "scheduled_start_time" | "scheduled_end_time"> &
      Partial<StoredPastMeeting>,
  ): StoredPastMeeting {
    const timestamp = now().toISOString();
    const platformMeetingId = fields.platform_meeting_id ?? meeting.zoom_config?.meeting_id;
    return {
      ...meetingSnapshot(meeting),
      meeting_uid: meeting.uid,
      project_uid: meeting.project_uid,
      ...(platformMeetingId === undefined ? {} : { platform_meeting_id: platformMeetingId }),
      sessions: [],
      ...fields,
      recording_uids: [],
      transcript_uids: [],
      summary_uids: [],
      uid_lists_seq: { recording_uids: 0, transcript_uids: 0, summary_uids: 0 },
      created_at: timestamp,
      updated_at: timestamp,
    };
  }

  /**
   * A start of an occurrence that has a past meeting: opens a session unless one is open (and
   * records the platform's meeting id if it was not known). Null when the past meeting is gone.
   */
  async function startAgain(
    uid: string,
    startedAt: string,
    platformMeetingId: string | undefined,
  ): Promise<PastMeeting | null> {
    const result = await modifyAtRevision(pastMeetings, directKey(uid), (current) => {
      const sessions = openMeetingSession(current.sessions, deps.newId(), startedAt);
      const learnsId = current.platform_meeting_id === undefined && platformMeetingId !== undefined;
      if (sessions === null && !learnsId) return null;
      const next: StoredPastMeeting = {
        ...current,
        sessions: sessions ?? current.sessions,
        updated_at: now().toISOString(),
      };
      if (learnsId) next.platform_meeting_id = platformMeetingId;
      return next;
    });
    if (result === null) return null;
    return lists.reply(result.value, result.revision);
  }

  return {
    newPastMeeting,

    async create(pastMeeting) {
      const claimKey = startClaimKey(pastMeeting);
      if (claimKey !== undefined) {
        const outcome = await claims.claim(claimKey, pastMeeting.uid);
        const mine = outcome.won || outcome.holder === pastMeeting.uid;
        const takenOver =
          !outcome.won &&
          !mine &&
          outcome.stale &&
          (await pastMeetings.get(directKey(outcome.holder))) === null &&
          (await claims.takeOver(claimKey, outcome.revision, pastMeeting.uid));
        if (!mine && !takenOver) {
          throw conflict(
            `meeting ${pastMeeting.meeting_uid} already has a past meeting for occurrence ${String(pastMeeting.occurrence_id)}`,
          );
        }
      }
      return createClaimed(pastMeeting);
    },

    async start(meeting, request, uid) {
      const { meeting_uid, platform_meeting_id } = request;
      const startedAt = request.started_at;
      const occurrence = occurrenceOfStart(meeting, request.occurrence_id, Date.parse(startedAt));
      if (occurrence === undefined) throw occurrenceNotFound(meeting_uid, request.occurrence_id);
      const claimKey = pastMeetingStartClaimKey(meeting_uid, occurrence.occurrence_id);
      const create = () =>
        createClaimed(
          newPastMeeting(meetingAsOccurrence(meeting, occurrence.occurrence_id), {
            ...occurrence,
            uid,
            ...(platform_meeting_id === undefined ? {} : { platform_meeting_id }),
            sessions: [{ uid: deps.newId(), start_time: startedAt }],
          }),
        );

      for (let attempt = 0; attempt < MAX_START_ATTEMPTS; attempt++) {
        const outcome = await claims.claim(claimKey, uid);
        let started: PastMeeting | null;
        if (outcome.won || outcome.holder === uid) {
          started = await create();
        } else {
          started = await startAgain(outcome.holder, startedAt, platform_meeting_id);
          if (
            started === null &&
            outcome.stale &&
            (await claims.takeOver(claimKey, outcome.revision, uid))
          ) {
            started = await create();
          }
        }
        if (started !== null) {
          await inviteRegistrants(deps, started);
          return started;
        }
        // The past meeting is being created by another start right now: give it a moment.
        await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20));
      }
      throw unavailable("the past meeting of this occurrence is still being created; retry");
    },

    async end(request) {
      const { past_meeting_uid } = request;
      const endedAt = request.ended_at;
      const result = await modifyAtRevision(pastMeetings, directKey(past_meeting_uid), (pm) => {
        const sessions = closeMeetingSession(pm.sessions, endedAt);
        return sessions === null ? null : { ...pm, sessions, updated_at: now().toISOString() };
      });
      if (result === null) throw notFound("past meeting", past_meeting_uid);
      return lists.reply(result.value, result.revision);
    },

    async releaseClaim(deleted) {
      const claimKey = startClaimKey(deleted);
      if (claimKey !== undefined) await claims.release(claimKey, deleted.uid);
    },
  };
}
