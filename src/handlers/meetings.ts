// lfx.meetings.*: create, get, update, delete and list meetings (docs/CONTRACT.md §4, §5).
import { ANY_CALLER, itemField, meetingRelation, projectRelation } from "../auth/access.js";
import {
  DEFAULT_EARLY_JOIN_TIME_MINUTES,
  DEFAULT_PLATFORM,
  scheduleFields,
} from "../domain/meeting.js";
import { applyMergePatch, jsonEqual, type JsonObject } from "../domain/merge-patch.js";
import { notFound } from "../errors.js";
import type { Meeting } from "../generated/schema-types.js";
import { endpoint, type AnyEndpoint } from "../rpc/endpoint.js";
import { directKey, lastSegment } from "../store/kv/keys.js";
import { mayHaveBeenStored, RevisionConflict } from "../store/kv/kv-repository.js";
import type { StoredMeetingSettings } from "../store/resources/meeting-settings.js";
import {
  meetingIndexPrefix,
  type MeetingFilter,
  type StoredMeeting,
} from "../store/resources/meetings.js";
import { DEFAULT_PAGE_SIZE, readPage } from "../store/kv/paging.js";
import { committeeMembers } from "./committee-members.js";
import { checkReferences } from "./platform-references.js";
import { deleteRegistrantsOfMeeting } from "./registrants.js";
import { deleteRsvpsOfMeeting } from "./rsvps.js";
import { checkMeetingFitsReply, createMeetingView } from "./meeting-view.js";
import type { HandlerDeps } from "./deps.js";
import { deleteIndexed, updateIndexed } from "./entity-writes.js";

export function meetingEndpoints(deps: HandlerDeps): AnyEndpoint[] {
  const { repos, now } = deps;
  const meetings = repos.meetings;
  const view = createMeetingView(deps);
  const members = committeeMembers(deps);
  const meetingReply = (meeting: StoredMeeting, revision: number) => view.reply(meeting, revision);

  async function getMeeting(uid: string): Promise<Meeting | null> {
    const found = await meetings.get(directKey(uid));
    return found === null ? null : meetingReply(found.value, found.revision);
  }

  /**
   * Everything that belongs to a meeting and goes with it (docs/CONTRACT.md §4); past meetings stay. The
   * meeting itself is deleted first (that is the commit point); what remains after a crash here
   * is found and removed by check-consistency.
   */
  async function deleteDependents(meeting: StoredMeeting) {
    const key = directKey(meeting.uid);
    await Promise.all([
      deleteRegistrantsOfMeeting(deps, meeting.uid),
      deleteRsvpsOfMeeting(deps, meeting.uid),
    ]);
    const settings = await repos.meetingSettings.get(key);
    if (settings !== null) {
      await repos.meetingSettings.remove(key);
    }
  }

  /**
   * Creates the settings of a new meeting. Settings already under its uid were written by an
   * earlier attempt of the same create (uids are new per create, and only a retry with the same
   * Idempotency-Key reuses one), so they are taken as they are rather than failing the retry.
   */
  async function createOwnSettings(key: string, settings: StoredMeetingSettings): Promise<number> {
    try {
      return await repos.meetingSettings.create(key, settings);
    } catch (err) {
      if (!(err instanceof RevisionConflict)) throw err;
      const existing = await repos.meetingSettings.getLatest(key);
      if (existing === null) throw err;
      return existing.revision;
    }
  }

  /**
   * The project and committees an update sets, when they differ from the meeting's (CONTRACT
   * §10): what the meeting already names is not asked again. The meeting is read for this only
   * when the update touches them.
   */
  async function checkChangedReferences(uid: string, patch: JsonObject) {
    if (deps.platform === undefined) return;
    if (patch["project_uid"] === undefined && patch["committees"] === undefined) return;
    const current = await meetings.get(directKey(uid));
    if (current === null) return; // the update itself answers 404
    const projectUid = patch["project_uid"];
    const committees = patch["committees"];
    await checkReferences(
      deps.platform,
      {
        project_uid:
          typeof projectUid === "string" && projectUid !== current.value.project_uid
            ? projectUid
            : undefined,
        committees: Array.isArray(committees) ? (committees as { uid: string }[]) : undefined,
      },
      new Set((current.value.committees ?? []).map((c) => c.uid)),
    );
  }

  return [
    endpoint({
      subject: "lfx.meetings.create",
      access: { request: ({ project_uid }) => projectRelation(project_uid, "meetings_creator") },
      findCreated: getMeeting,
      async handle(request, ctx) {
        const { organizers, ...fields } = request;
        await checkReferences(deps.platform, fields);
        const uid = ctx.newUid;
        const key = directKey(uid);
        const timestamp = now().toISOString();
        const meeting: StoredMeeting = {
          ...fields,
          uid,
          platform: fields.platform ?? DEFAULT_PLATFORM,
          early_join_time_minutes:
            fields.early_join_time_minutes ?? DEFAULT_EARLY_JOIN_TIME_MINUTES,
          ...scheduleFields(fields),
          public_link: `${deps.publicLinkBaseUrl}/${uid}`,
          registrant_count: 0,
          registrant_count_seq: 0,
          email_delivery_error_count: 0,
          created_at: timestamp,
          updated_at: timestamp,
        };
        checkMeetingFitsReply(meeting, deps.maxReplyBytes);
        const settings = {
          uid,
          organizers: organizers ?? [],
          created_at: timestamp,
          updated_at: timestamp,
        };
        // The settings are written with the index keys, the meeting last: its existence is the
        // commit point (a crash before it leaves orphans that check-consistency removes). If a
        // write fails for sure, the others are undone; if its outcome is unknown (503), they
        // stay, because the meeting may have been stored: a retry with the same Idempotency-Key
        // finds it, or creates it with the same uid and the settings already there.
        let settingsRevision = 0;
        const writeSettings = async () => {
          settingsRevision = await createOwnSettings(key, settings);
        };
        let revision: number;
        try {
          revision = await meetings.createIndexed(meeting, writeSettings);
        } catch (err) {
          if (settingsRevision > 0 && !mayHaveBeenStored(err)) {
            await repos.meetingSettings.remove(key, settingsRevision).catch(() => undefined);
          }
          throw err;
        }
        ctx.log.debug({ uid }, "meeting created");
        // Members register after the reply (committee-members.ts): the meeting is committed.
        if ((meeting.committees ?? []).length > 0) members?.scheduleMeetingSync(uid, ctx.log);
        // Nobody can have registered for it yet: its count is not read.
        return view.reply(meeting, revision, 0);
      },
    }),

    endpoint({
      subject: "lfx.meetings.get",
      access: { request: ({ uid }) => meetingRelation(uid, "viewer") },
      async handle({ uid }) {
        const meeting = await getMeeting(uid);
        if (meeting === null) throw notFound("meeting", uid);
        return meeting;
      },
    }),

    endpoint({
      subject: "lfx.meetings.update",
      access: { request: ({ uid }) => meetingRelation(uid, "organizer") },
      async handle(request, ctx) {
        const { uid, revision, ...patch } = request;
        const key = directKey(uid);
        await checkChangedReferences(uid, patch);
        let committeesBefore: StoredMeeting["committees"];
        const updated = await updateIndexed({
          repo: meetings,
          key,
          entity: "meeting",
          uid,
          revision,
          patch,
          now: now(),
          apply: (current, p) => {
            committeesBefore = current.committees;
            const merged = withoutStaleEdits(current, applyMeetingPatch(current, p));
            const { series_end_date: _previous, ...rest } = merged;
            const next = { ...rest, ...scheduleFields(rest) };
            checkMeetingFitsReply(next, deps.maxReplyBytes);
            return next;
          },
        });
        if (updated.changed && !jsonEqual(committeesBefore ?? [], updated.value.committees ?? [])) {
          members?.scheduleMeetingSync(uid, ctx.log);
        }
        return meetingReply(updated.value, updated.revision);
      },
    }),

    endpoint({
      subject: "lfx.meetings.delete",
      access: { request: ({ uid }) => meetingRelation(uid, "organizer") },
      async handle({ uid, revision }) {
        const deleted = await deleteIndexed(meetings, "meeting", uid, revision);
        await deleteDependents(deleted.value);
        return { uid, deleted: true };
      },
    }),

    endpoint({
      subject: "lfx.meetings.list",
      access: {
        request: () => ANY_CALLER,
        item: (meeting) => meetingRelation(itemField(meeting, "uid"), "viewer"),
      },
      async handle(request) {
        const { project_uid, committee_uid, limit = DEFAULT_PAGE_SIZE, cursor } = request;
        // The narrower index when both filters are given; every item is checked against both.
        const filter: MeetingFilter | undefined =
          committee_uid !== undefined
            ? { kind: "committee", uid: committee_uid }
            : project_uid !== undefined
              ? { kind: "project", uid: project_uid }
              : undefined;
        const matches = (meeting: StoredMeeting) =>
          (project_uid === undefined || meeting.project_uid === project_uid) &&
          (committee_uid === undefined ||
            (meeting.committees ?? []).some((c) => c.uid === committee_uid));
        const prefix = filter === undefined ? undefined : meetingIndexPrefix(filter);
        return readPage({
          scope: `meetings.list|${project_uid ?? ""}|${committee_uid ?? ""}`,
          limit,
          cursor,
          maxReplyBytes: deps.maxReplyBytes,
          source: prefix === undefined ? meetings.listDirect() : meetings.listUnder(prefix),
          async load(key) {
            const uid = prefix === undefined ? key : lastSegment(key);
            const found = await meetings.get(directKey(uid));
            if (found === null || !matches(found.value)) return null;
            return meetingReply(found.value, found.revision);
          },
        });
      },
    }),
  ];
}

/**
 * A new start_time, timezone or recurrence makes a new series, with new occurrences and ids: the
 * edits of the old one's occurrences (docs/CONTRACT.md §12) are dropped with it (docs/RECURRENCE.md).
 */
function withoutStaleEdits(current: StoredMeeting, next: StoredMeeting): StoredMeeting {
  if (next.occurrence_edits === undefined) return next;
  const same =
    next.start_time === current.start_time &&
    next.timezone === current.timezone &&
    jsonEqual(next.recurrence ?? null, current.recurrence ?? null);
  if (same) return next;
  const { occurrence_edits: _dropped, ...rest } = next;
  return rest;
}

/**
 * Merge-patch for meetings: `recurrence` is replaced as a whole rather than merged, because a
 * recurrence is only valid as a whole (a merged weekly and monthly rule would be neither).
 */
function applyMeetingPatch(current: StoredMeeting, patch: JsonObject): StoredMeeting {
  const { recurrence, ...rest } = patch;
  const base: StoredMeeting = { ...current };
  if (recurrence !== undefined) {
    delete base.recurrence;
    if (recurrence !== null)
      base.recurrence = recurrence as NonNullable<StoredMeeting["recurrence"]>;
  }
  return applyMergePatch(base, rest);
}
