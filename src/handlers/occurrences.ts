// lfx.occurrences.*: the occurrences of a meeting (CONTRACT §4, §5 "occurrence"). They are not
// stored: the recurrence engine (domain/occurrences.ts) computes them from the meeting, and only
// cancellations are kept, on the meeting itself.
import { isOccurrence, occurrencesBetween } from "../domain/occurrences.js";
import { invalidField, notFound, staleRevision } from "../errors.js";
import { endpoint, type AnyEndpoint } from "../rpc/endpoint.js";
import { directKey } from "../store/keys.js";
import { RevisionConflict } from "../store/kv-repository.js";
import { decodeCursor, encodeCursor, fitReply } from "../store/paging.js";
import { cancelledOf, createMeetingView, scheduleOf } from "./meeting-view.js";
import type { HandlerDeps } from "./types.js";
import { planUpdate } from "./entity-writes.js";

const DEFAULT_PAGE_SIZE = 100;

export function occurrenceEndpoints(deps: HandlerDeps): AnyEndpoint[] {
  const { repos, now } = deps;
  const view = createMeetingView(deps);

  return [
    endpoint({
      subject: "lfx.occurrences.list",
      async handle(request) {
        const { meeting_uid, include_cancelled = false, limit = DEFAULT_PAGE_SIZE } = request;
        const found = await repos.meetings.get(directKey(meeting_uid));
        if (found === null) throw notFound("meeting", meeting_uid);
        const meeting = found.value;

        const from = request.from === undefined ? now().getTime() : Date.parse(request.from);
        const to = request.to === undefined ? undefined : Date.parse(request.to);
        if (to !== undefined && to <= from) throw invalidField("/to", "must be after from");
        const scope = `occurrences.list|${meeting_uid}|${request.from ?? ""}|${request.to ?? ""}|${include_cancelled}`;
        // The cursor is the id (unix seconds) of the last occurrence of the previous page.
        const after = decodeCursor(scope, request.cursor);
        const start = after === undefined ? from : Math.max(from, Number(after) * 1000 + 1);

        const times = occurrencesBetween(scheduleOf(meeting), {
          from: start,
          ...(to === undefined ? {} : { to }),
          limit: limit + 1,
          excluded: include_cancelled ? undefined : cancelledOf(meeting),
        });
        const described = await view.describe(meeting, times.slice(0, limit));
        // Cut to fit the server's max payload, as stored lists are (store/paging.ts): 1000
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
      async handle({ meeting_uid, occurrence_id, revision }) {
        const key = directKey(meeting_uid);
        const { current, next } = await planUpdate({
          repo: repos.meetings,
          key,
          entity: "meeting",
          uid: meeting_uid,
          revision,
          patch: {},
          now: now(),
          apply: (meeting) => {
            if (!isOccurrence(scheduleOf(meeting), occurrence_id)) {
              throw notFound("occurrence", occurrence_id);
            }
            const cancelled = new Set(meeting.cancelled_occurrences ?? []).add(occurrence_id);
            return { ...meeting, cancelled_occurrences: [...cancelled].sort() };
          },
        });
        if (next === null) return view.reply(current.value, current.revision);
        let newRevision: number;
        try {
          newRevision = await repos.meetings.update(key, next, current.revision);
        } catch (err) {
          if (err instanceof RevisionConflict) throw staleRevision("meeting", meeting_uid);
          throw err;
        }
        return view.reply(next, newRevision);
      },
    }),
  ];
}
