// lfx.occurrences.*: the occurrences of a meeting (docs/CONTRACT.md §4, §5 "occurrence", §12). They are
// not stored: the recurrence engine (domain/occurrences.ts) computes them from the meeting, and
// only cancellations and edits are kept, on the meeting itself (domain/occurrence-edits.ts).
import { meetingRelation } from "../auth/access.js";
import {
  applyOccurrenceEdit,
  editedOccurrencesBetween,
  ruleScheduleOf,
} from "../domain/occurrence-edits.js";
import { scheduleFields } from "../domain/meeting.js";
import { isOccurrence } from "../domain/occurrences.js";
import { invalidField, notFound } from "../errors.js";
import type { Meeting } from "../generated/schema-types.js";
import { endpoint, type AnyEndpoint } from "../rpc/endpoint.js";
import { fitReply } from "../rpc/reply-size.js";
import { directKey } from "../store/kv/keys.js";
import type { StoredMeeting } from "../store/resources/meetings.js";
import { decodeCursor, DEFAULT_PAGE_SIZE, encodeCursor } from "../store/kv/paging.js";
import { checkMeetingFitsReply, createMeetingView } from "./meeting-view.js";
import type { HandlerDeps } from "./deps.js";
import { updateIndexed } from "./entity-writes.js";

export function occurrenceEndpoints(deps: HandlerDeps): AnyEndpoint[] {
  const { repos, now } = deps;
  const view = createMeetingView(deps);

  /**
   * Writes a change of the meeting's occurrences at the client's revision (a retry of a stored
   * change gets the meeting as it left it, entity-writes.ts) and publishes the meeting's update,
   * with its occurrences as the reply shows them: that is where the change is seen (§12).
   */
  async function changeOccurrences(
    meetingUid: string,
    revision: number,
    change: (meeting: StoredMeeting) => StoredMeeting,
  ): Promise<Meeting> {
    const updated = await updateIndexed({
      repo: repos.meetings,
      key: directKey(meetingUid),
      entity: "meeting",
      uid: meetingUid,
      revision,
      patch: {},
      now: now(),
      apply: change,
    });
    return view.reply(updated.value, updated.revision);
  }

  return [
    endpoint({
      subject: "lfx.occurrences.list",
      access: { request: ({ meeting_uid }) => meetingRelation(meeting_uid, "viewer") },
      async handle(request) {
        const { meeting_uid, include_cancelled = false, limit = DEFAULT_PAGE_SIZE } = request;
        const found = await repos.meetings.get(directKey(meeting_uid));
        if (found === null) throw notFound("meeting", meeting_uid);
        const meeting = found.value;

        const from = request.from === undefined ? now().getTime() : Date.parse(request.from);
        const to = request.to === undefined ? undefined : Date.parse(request.to);
        if (to !== undefined && to <= from) throw invalidField("/to", "must be after from");
        const scope = `occurrences.list|${meeting_uid}|${request.from ?? ""}|${request.to ?? ""}|${include_cancelled}`;
        // The cursor is the id of the last occurrence of the previous page: edited starts keep
        // the order of ids (domain/occurrence-edits.ts), so the next page is the ids after it.
        const after = decodeCursor(scope, request.cursor);

        const times = editedOccurrencesBetween(meeting, {
          from,
          to,
          afterId: after,
          limit: limit + 1,
          skipCancelled: !include_cancelled,
        });
        const described = await view.describe(meeting, times.slice(0, limit));
        // Cut to fit the server's max payload, as stored lists are (store/kv/paging.ts): 1000
        // occurrences with a long title and description would be megabytes, a reply never sent.
        const items = fitReply(described, deps.maxReplyBytes);
        const last = items.at(-1);
        const more = times.length > limit || items.length < described.length;
        return {
          items,
          next_cursor: more && last !== undefined ? encodeCursor(scope, last.occurrence_id) : null,
        };
      },
    }),

    endpoint({
      subject: "lfx.occurrences.cancel",
      access: { request: ({ meeting_uid }) => meetingRelation(meeting_uid, "organizer") },
      async handle({ meeting_uid, occurrence_id, revision }) {
        return changeOccurrences(meeting_uid, revision, (meeting) => {
          if (!isOccurrence(ruleScheduleOf(meeting), occurrence_id)) {
            throw notFound("occurrence", occurrence_id);
          }
          const cancelled = new Set(meeting.cancelled_occurrences ?? []).add(occurrence_id);
          return { ...meeting, cancelled_occurrences: [...cancelled].sort() };
        });
      },
    }),

    endpoint({
      subject: "lfx.occurrences.update",
      access: { request: ({ meeting_uid }) => meetingRelation(meeting_uid, "organizer") },
      async handle({ meeting_uid, revision, ...change }) {
        const at = now().getTime();
        return changeOccurrences(meeting_uid, revision, (meeting) => {
          const { series_end_date: _previous, ...edited } = applyOccurrenceEdit(
            meeting,
            change,
            at,
          );
          const next = { ...edited, ...scheduleFields(edited) };
          checkMeetingFitsReply(next, deps.maxReplyBytes);
          return next;
        });
      },
    }),
  ];
}
