// lfx.transcripts.*: transcripts of past meetings (docs/CONTRACT.md §4, §5 "transcript"): total_size and
// transcript_count are computed from transcript_files on every write. Storage, write order and the
// past meeting's transcript_uids are shared with the other artifacts: see handlers/artifacts.ts.
import { pastMeetingRelation } from "../auth/access.js";
import { accessRules } from "./access-rules.js";
import { artifactTotals } from "../domain/artifacts.js";
import { endpoint, type AnyEndpoint } from "../rpc/endpoint.js";
import type { StoredTranscript } from "../store/resources/artifacts.js";
import { artifactOperations, type ArtifactKind } from "./artifacts.js";
import type { HandlerDeps } from "./deps.js";

export function transcriptKind(deps: HandlerDeps): ArtifactKind<StoredTranscript> {
  return {
    resource: "transcripts",
    entity: "transcript",
    list: "transcript_uids",
    repo: deps.repos.transcripts,
    derive(transcript) {
      const { size, count } = artifactTotals(transcript.transcript_files);
      return { ...transcript, total_size: size, transcript_count: count };
    },
  };
}

export function transcriptEndpoints(deps: HandlerDeps): AnyEndpoint[] {
  const kind = transcriptKind(deps);
  const transcripts = artifactOperations(deps, kind);
  const rules = accessRules(deps);
  return [
    endpoint({
      subject: "lfx.transcripts.create",
      access: {
        request: ({ past_meeting_uid }) => pastMeetingRelation(past_meeting_uid, "organizer"),
      },
      findCreated: transcripts.findCreated,
      async handle(request, ctx) {
        await transcripts.requirePastMeeting(request.past_meeting_uid);
        const timestamp = deps.now().toISOString();
        const transcript: StoredTranscript = {
          ...request,
          uid: ctx.newUid,
          total_size: 0,
          transcript_count: 0,
          transcript_files: request.transcript_files ?? [],
          sessions: request.sessions ?? [],
          created_at: timestamp,
          updated_at: timestamp,
        };
        return transcripts.create(transcript, ctx.log);
      },
    }),

    endpoint({
      subject: "lfx.transcripts.get",
      access: { request: ({ uid }) => rules.artifactReaderOf(kind.repo, kind.entity, uid) },
      handle: ({ uid }) => transcripts.get(uid),
    }),

    endpoint({
      subject: "lfx.transcripts.update",
      access: { request: ({ uid }) => rules.childOrganizer(kind.repo, kind.entity, uid) },
      handle: ({ uid, revision, ...patch }) => transcripts.update(uid, revision, patch),
    }),

    endpoint({
      subject: "lfx.transcripts.delete",
      access: { request: ({ uid }) => rules.childOrganizer(kind.repo, kind.entity, uid) },
      handle: ({ uid, revision }, ctx) => transcripts.remove(uid, revision, ctx.log),
    }),

    endpoint({
      subject: "lfx.transcripts.list",
      access: { request: ({ past_meeting_uid }) => rules.artifactReader(past_meeting_uid) },
      handle: ({ past_meeting_uid, limit, cursor }) =>
        transcripts.list(past_meeting_uid, limit, cursor),
    }),
  ];
}
