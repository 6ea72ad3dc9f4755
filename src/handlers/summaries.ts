// lfx.summaries.*: AI summaries of past meetings (docs/CONTRACT.md §4, §5 "summary"). requires_approval is
// taken from the meeting's zoom_config.ai_summary_require_approval when the summary is created
// (false when unset or when the meeting is gone); a summary that requires approval starts with
// approved false until lfx.summaries.approve, any other starts approved. Updates merge
// summary_data field by field, so an edit of edited_content keeps the platform's content.
// Storage, write order and the past meeting's summary_uids: see handlers/artifacts.ts.
import { pastMeetingRelation } from "../auth/access.js";
import { accessRules } from "./access-rules.js";
import { staleRevision } from "../errors.js";
import { endpoint, type AnyEndpoint } from "../rpc/endpoint.js";
import type { StoredSummary } from "../store/resources/artifacts.js";
import { directKey } from "../store/kv/keys.js";
import { RevisionConflict } from "../store/kv/kv-repository.js";
import { artifactOperations, type ArtifactKind } from "./artifacts.js";
import type { HandlerDeps } from "./deps.js";
import { planUpdate } from "./entity-writes.js";

export function summaryKind(deps: HandlerDeps): ArtifactKind<StoredSummary> {
  return {
    resource: "summaries",
    entity: "summary",
    list: "summary_uids",
    repo: deps.repos.summaries,
    derive: (summary) => summary,
  };
}

export function summaryEndpoints(deps: HandlerDeps): AnyEndpoint[] {
  const { repos, now } = deps;
  const kind = summaryKind(deps);
  const summaries = artifactOperations(deps, kind);
  const rules = accessRules(deps);

  return [
    endpoint({
      subject: "lfx.summaries.create",
      access: {
        request: ({ past_meeting_uid }) => pastMeetingRelation(past_meeting_uid, "organizer"),
      },
      findCreated: summaries.findCreated,
      async handle(request, ctx) {
        const pastMeeting = await summaries.requirePastMeeting(request.past_meeting_uid);
        const meeting = await repos.meetings.get(directKey(pastMeeting.meeting_uid));
        const requiresApproval = meeting?.value.zoom_config?.ai_summary_require_approval === true;
        const timestamp = now().toISOString();
        const summary: StoredSummary = {
          ...request,
          uid: ctx.newUid,
          meeting_uid: pastMeeting.meeting_uid,
          requires_approval: requiresApproval,
          approved: !requiresApproval,
          email_sent: request.email_sent ?? false,
          created_at: timestamp,
          updated_at: timestamp,
        };
        return summaries.create(summary, ctx.log);
      },
    }),

    endpoint({
      subject: "lfx.summaries.get",
      access: { request: ({ uid }) => rules.artifactReaderOf(kind.repo, kind.entity, uid) },
      handle: ({ uid }) => summaries.get(uid),
    }),

    endpoint({
      subject: "lfx.summaries.update",
      access: { request: ({ uid }) => rules.childOrganizer(kind.repo, kind.entity, uid) },
      handle: ({ uid, revision, ...patch }) => summaries.update(uid, revision, patch),
    }),

    endpoint({
      subject: "lfx.summaries.delete",
      access: { request: ({ uid }) => rules.childOrganizer(kind.repo, kind.entity, uid) },
      handle: ({ uid, revision }, ctx) => summaries.remove(uid, revision, ctx.log),
    }),

    endpoint({
      subject: "lfx.summaries.list",
      access: { request: ({ past_meeting_uid }) => rules.artifactReader(past_meeting_uid) },
      handle: ({ past_meeting_uid, limit, cursor }) =>
        summaries.list(past_meeting_uid, limit, cursor),
    }),

    endpoint({
      subject: "lfx.summaries.approve",
      access: { request: ({ uid }) => rules.childOrganizer(kind.repo, kind.entity, uid) },
      async handle({ uid, revision }) {
        const key = directKey(uid);
        // planUpdate also recognises a retried approve whose first try was stored.
        const { current, next } = await planUpdate({
          repo: repos.summaries,
          key,
          entity: "summary",
          uid,
          revision,
          patch: { approved: true },
          now: now(),
        });
        if (next === null) return { ...current.value, revision: current.revision };
        let newRevision: number;
        try {
          newRevision = await repos.summaries.update(key, next, current.revision);
        } catch (err) {
          if (err instanceof RevisionConflict) throw staleRevision("summary", uid);
          throw err;
        }
        return { ...next, revision: newRevision };
      },
    }),
  ];
}
