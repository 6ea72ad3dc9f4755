// lfx.past-meetings.*: the occurrences of meetings that took place (docs/CONTRACT.md §4 "Lifecycle rules",
// §5 "past meeting"): CRUD, and start / end as the video platform reports them.
//
// The writes under the start claim (one past meeting per meeting and occurrence), start and end
// are in past-meeting-writes.ts. Write order (crash-safe): docs/ARCHITECTURE.md "Writes".
import { ANY_CALLER, itemField, meetingRelation, pastMeetingRelation } from "../auth/access.js";
import { checkScheduledTimes } from "../domain/past-meeting.js";
import { ruleScheduleOf } from "../domain/occurrence-edits.js";
import { isOccurrence } from "../domain/occurrences.js";
import { notFound } from "../errors.js";
import type { PastMeeting } from "../generated/schema-types.js";
import { endpoint, type AnyEndpoint } from "../rpc/endpoint.js";
import { directKey, lastSegment } from "../store/kv/keys.js";
import { DEFAULT_PAGE_SIZE, readPage } from "../store/kv/paging.js";
import type { StoredMeeting } from "../store/resources/meetings.js";
import {
  pastMeetingIndexPrefix,
  type PastMeetingFilter,
  type StoredPastMeeting,
} from "../store/resources/past-meetings.js";
import { accessRules } from "./access-rules.js";
import { deleteArtifactsOfPastMeeting } from "./artifacts.js";
import type { HandlerDeps } from "./deps.js";
import { artifactLists } from "./artifact-lists.js";
import { deleteIndexed, updateIndexed } from "./entity-writes.js";
import { deleteParticipantsOfPastMeeting } from "./participant-writes.js";
import {
  applyPastMeetingPatch,
  occurrenceNotFound,
  pastMeetingWrites,
} from "./past-meeting-writes.js";
import { checkReferences } from "./platform-references.js";
import { recordingKind } from "./recordings.js";
import { summaryKind } from "./summaries.js";
import { transcriptKind } from "./transcripts.js";

export function pastMeetingEndpoints(deps: HandlerDeps): AnyEndpoint[] {
  const { repos, now } = deps;
  const pastMeetings = repos.pastMeetings;
  const writes = pastMeetingWrites(deps);
  const lists = artifactLists(deps);
  const { newPastMeeting } = writes;
  const rules = accessRules(deps);

  async function findPastMeeting(uid: string): Promise<PastMeeting | null> {
    const found = await pastMeetings.get(directKey(uid));
    return found === null ? null : lists.reply(found.value, found.revision);
  }

  async function requireMeeting(uid: string): Promise<StoredMeeting> {
    const found = await repos.meetings.get(directKey(uid));
    if (found === null) throw notFound("meeting", uid);
    return found.value;
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
        return writes.create(newPastMeeting(meeting, { ...request, uid: ctx.newUid }));
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
        return lists.reply(updated.value, updated.revision);
      },
    }),

    endpoint({
      subject: "lfx.past-meetings.delete",
      access: { request: ({ uid }) => pastMeetingRelation(uid, "organizer") },
      async handle({ uid, revision }) {
        const deleted = await deleteIndexed(pastMeetings, "past meeting", uid, revision);
        await Promise.all([
          writes.releaseClaim(deleted.value),
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
            return lists.reply(found.value, found.revision);
          },
        });
      },
    }),

    endpoint({
      subject: "lfx.past-meetings.start",
      // There is no past meeting yet to be the organizer of: the meeting's organizers start it.
      access: { request: ({ meeting_uid }) => meetingRelation(meeting_uid, "organizer") },
      async handle(request, ctx) {
        const meeting = await requireMeeting(request.meeting_uid);
        return writes.start(meeting, request, ctx.newUid);
      },
    }),

    endpoint({
      subject: "lfx.past-meetings.end",
      access: {
        request: ({ past_meeting_uid }) => pastMeetingRelation(past_meeting_uid, "organizer"),
      },
      async handle(request) {
        return writes.end(request);
      },
    }),
  ];
}
