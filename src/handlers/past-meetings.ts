// lfx.past-meetings.*: the occurrences of meetings that took place (docs/CONTRACT.md §4 "Lifecycle rules",
// §5 "past meeting"): CRUD, and start / end as the video platform reports them.
//
// One past meeting per (meeting, occurrence): a create-only claim `unique/start/{meeting_uid}/
// {occurrence_id}` names the pair and holds the past meeting's uid. The start that wins it creates
// the past meeting; every other start, on any instance and at the same moment too, finds the
// claim's holder and returns it (opening a session when none is open). Write order of a create,
// a start and a delete (crash-safe): docs/ARCHITECTURE.md "Writes".
import { ANY_CALLER, itemField, meetingRelation, pastMeetingRelation } from "../auth/access.js";
import { accessRules } from "./access-rules.js";
import {
  checkScheduledTimes,
  meetingAsOccurrence,
  meetingSnapshot,
  occurrenceOfStart,
} from "../domain/past-meeting.js";
import { closeMeetingSession, openMeetingSession } from "../domain/sessions.js";
import { applyMergePatch, type JsonObject } from "../domain/merge-patch.js";
import { ruleScheduleOf } from "../domain/occurrence-edits.js";
import { isOccurrence } from "../domain/occurrences.js";
import { AppError, conflict, invalidField, notFound, unavailable } from "../errors.js";
import type { PastMeeting } from "../generated/schema-types.js";
import { endpoint, type AnyEndpoint } from "../rpc/endpoint.js";
import { Claims } from "../store/kv/claims.js";
import { directKey, lastSegment } from "../store/kv/keys.js";
import type { StoredMeeting } from "../store/resources/meetings.js";
import { modifyAtRevision } from "../store/kv/modify.js";
import { DEFAULT_PAGE_SIZE, readPage } from "../store/kv/paging.js";
import {
  pastMeetingIndexPrefix,
  pastMeetingStartClaimKey,
  type PastMeetingFilter,
  type StoredPastMeeting,
} from "../store/resources/past-meetings.js";
import { deleteArtifactsOfPastMeeting } from "./artifacts.js";
import { inviteRegistrants } from "./participant-attendance.js";
import { deleteParticipantsOfPastMeeting } from "./participant-writes.js";
import { recordingKind } from "./recordings.js";
import { summaryKind } from "./summaries.js";
import { transcriptKind } from "./transcripts.js";
import { checkReferences } from "./platform-references.js";
import type { HandlerDeps } from "./deps.js";
import { reply } from "./entity-reply.js";
import { deleteIndexed, updateIndexed } from "./entity-writes.js";

/** Rounds of claim -> read before a start that keeps finding a past meeting in the making gives up. */
const MAX_START_ATTEMPTS = 50;

function occurrenceNotFound(meetingUid: string, occurrenceId: string | undefined): AppError {
  return new AppError(
    "not_found",
    occurrenceId === undefined
      ? `meeting ${meetingUid} has no occurrence`
      : `occurrence ${occurrenceId} of meeting ${meetingUid} not found`,
  );
}

/** Merge-patch for past meetings: `recurrence` is replaced as a whole, as in meetings. */
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

export function pastMeetingEndpoints(deps: HandlerDeps): AnyEndpoint[] {
  const { repos, now } = deps;
  const pastMeetings = repos.pastMeetings;
  const claims = new Claims(repos.pastMeetingClaims, now);
  const rules = accessRules(deps);

  async function findPastMeeting(uid: string): Promise<PastMeeting | null> {
    const found = await pastMeetings.get(directKey(uid));
    return found === null ? null : reply(found.value, found.revision);
  }

  async function requireMeeting(uid: string): Promise<StoredMeeting> {
    const found = await repos.meetings.get(directKey(uid));
    if (found === null) throw notFound("meeting", uid);
    return found.value;
  }

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
    return reply(pastMeeting, revision);
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
    return reply(result.value, result.revision);
  }

  return [
    endpoint({
      subject: "lfx.past-meetings.create",
      access: {
        request: ({ meeting_uid, project_uid }) =>
          rules.pastMeetingCreator(meeting_uid, project_uid),
      },
      findCreated: findPastMeeting,
      async handle(request, ctx) {
        const { meeting_uid, occurrence_id } = request;
        const meeting = await requireMeeting(meeting_uid);
        checkScheduledTimes(request);
        // The project it will name (its own, or the meeting's) must exist (docs/CONTRACT.md §10).
        await checkReferences(deps.platform, {
          project_uid: request.project_uid ?? meeting.project_uid,
        });
        if (occurrence_id !== undefined && !isOccurrence(ruleScheduleOf(meeting), occurrence_id)) {
          throw occurrenceNotFound(meeting_uid, occurrence_id);
        }
        const pastMeeting = newPastMeeting(meeting, { ...request, uid: ctx.newUid });
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
              `meeting ${meeting_uid} already has a past meeting for occurrence ${occurrence_id}`,
            );
          }
        }
        return createClaimed(pastMeeting);
      },
    }),

    endpoint({
      subject: "lfx.past-meetings.get",
      access: { request: ({ uid }) => pastMeetingRelation(uid, "viewer") },
      async handle({ uid }) {
        const found = await findPastMeeting(uid);
        if (found === null) throw notFound("past meeting", uid);
        return found;
      },
    }),

    endpoint({
      subject: "lfx.past-meetings.update",
      access: { request: ({ uid }) => pastMeetingRelation(uid, "organizer") },
      async handle(request) {
        const { uid, revision, ...patch } = request;
        await checkReferences(deps.platform, { project_uid: request.project_uid });
        const key = directKey(uid);
        const updated = await updateIndexed({
          repo: pastMeetings,
          key,
          entity: "past meeting",
          uid,
          revision,
          patch,
          now: now(),
          apply: applyPastMeetingPatch,
        });
        return reply(updated.value, updated.revision);
      },
    }),

    endpoint({
      subject: "lfx.past-meetings.delete",
      access: { request: ({ uid }) => pastMeetingRelation(uid, "organizer") },
      async handle({ uid, revision }) {
        const deleted = await deleteIndexed(pastMeetings, "past meeting", uid, revision);
        const claimKey = startClaimKey(deleted.value);
        await Promise.all([
          claimKey === undefined ? Promise.resolve() : claims.release(claimKey, uid),
          deleteParticipantsOfPastMeeting(deps, uid),
          deleteArtifactsOfPastMeeting(deps, recordingKind(deps), uid),
          deleteArtifactsOfPastMeeting(deps, transcriptKind(deps), uid),
          deleteArtifactsOfPastMeeting(deps, summaryKind(deps), uid),
        ]);
        return { uid, deleted: true };
      },
    }),

    endpoint({
      subject: "lfx.past-meetings.list",
      access: {
        request: () => ANY_CALLER,
        item: (pastMeeting) => pastMeetingRelation(itemField(pastMeeting, "uid"), "viewer"),
      },
      async handle(request) {
        const { meeting_uid, project_uid, from, to, limit = DEFAULT_PAGE_SIZE, cursor } = request;
        const fromMs = from === undefined ? -Infinity : Date.parse(from);
        const toMs = to === undefined ? Infinity : Date.parse(to);
        // The narrower index when both are given; every item is checked against every filter.
        const filter: PastMeetingFilter | undefined =
          meeting_uid !== undefined
            ? { kind: "meeting", uid: meeting_uid }
            : project_uid !== undefined
              ? { kind: "project", uid: project_uid }
              : undefined;
        const prefix = filter === undefined ? undefined : pastMeetingIndexPrefix(filter);
        const matches = (pastMeeting: StoredPastMeeting) => {
          const start = Date.parse(pastMeeting.scheduled_start_time);
          return (
            (meeting_uid === undefined || pastMeeting.meeting_uid === meeting_uid) &&
            (project_uid === undefined || pastMeeting.project_uid === project_uid) &&
            start >= fromMs &&
            start < toMs
          );
        };
        return readPage({
          scope: `past-meetings.list|${meeting_uid ?? ""}|${project_uid ?? ""}|${from ?? ""}|${to ?? ""}`,
          limit,
          cursor,
          maxReplyBytes: deps.maxReplyBytes,
          source: prefix === undefined ? pastMeetings.listDirect() : pastMeetings.listUnder(prefix),
          async load(key) {
            const uid = prefix === undefined ? key : lastSegment(key);
            const found = await pastMeetings.get(directKey(uid));
            if (found === null || !matches(found.value)) return null;
            return reply(found.value, found.revision);
          },
        });
      },
    }),

    endpoint({
      subject: "lfx.past-meetings.start",
      // There is no past meeting yet to be the organizer of: the meeting's organizers start it.
      access: { request: ({ meeting_uid }) => meetingRelation(meeting_uid, "organizer") },
      async handle(request, ctx) {
        const { meeting_uid, platform_meeting_id } = request;
        const startedAt = request.started_at;
        const meeting = await requireMeeting(meeting_uid);
        const occurrence = occurrenceOfStart(meeting, request.occurrence_id, Date.parse(startedAt));
        if (occurrence === undefined) throw occurrenceNotFound(meeting_uid, request.occurrence_id);
        const claimKey = pastMeetingStartClaimKey(meeting_uid, occurrence.occurrence_id);
        const uid = ctx.newUid;
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
    }),

    endpoint({
      subject: "lfx.past-meetings.end",
      access: {
        request: ({ past_meeting_uid }) => pastMeetingRelation(past_meeting_uid, "organizer"),
      },
      async handle(request) {
        const { past_meeting_uid } = request;
        const endedAt = request.ended_at;
        const result = await modifyAtRevision(pastMeetings, directKey(past_meeting_uid), (pm) => {
          const sessions = closeMeetingSession(pm.sessions, endedAt);
          return sessions === null ? null : { ...pm, sessions, updated_at: now().toISOString() };
        });
        if (result === null) throw notFound("past meeting", past_meeting_uid);
        return reply(result.value, result.revision);
      },
    }),
  ];
}
