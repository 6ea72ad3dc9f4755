// lfx.recordings.*: recordings of past meetings (docs/CONTRACT.md §4, §5 "recording"): total_size and
// recording_count are computed from recording_files on every write. Storage, write order and the
// past meeting's recording_uids are shared with the other artifacts: see handlers/artifacts.ts.
import { pastMeetingRelation } from "../auth/access.js";
import { accessRules } from "./access-rules.js";
import { artifactTotals } from "../domain/artifacts.js";
import { endpoint, type AnyEndpoint } from "../rpc/endpoint.js";
import type { StoredRecording } from "../store/resources/artifacts.js";
import { artifactOperations, type ArtifactKind } from "./artifacts.js";
import type { HandlerDeps } from "./deps.js";

export function recordingKind(deps: HandlerDeps): ArtifactKind<StoredRecording> {
  return {
    resource: "recordings",
    entity: "recording",
    list: "recording_uids",
    repo: deps.repos.recordings,
    derive(recording) {
      const { size, count } = artifactTotals(recording.recording_files);
      return { ...recording, total_size: size, recording_count: count };
    },
  };
}

export function recordingEndpoints(deps: HandlerDeps): AnyEndpoint[] {
  const kind = recordingKind(deps);
  const recordings = artifactOperations(deps, kind);
  const rules = accessRules(deps);
  return [
    endpoint({
      subject: "lfx.recordings.create",
      access: {
        request: ({ past_meeting_uid }) => pastMeetingRelation(past_meeting_uid, "organizer"),
      },
      findCreated: recordings.findCreated,
      async handle(request, ctx) {
        await recordings.requirePastMeeting(request.past_meeting_uid);
        const timestamp = deps.now().toISOString();
        const recording: StoredRecording = {
          ...request,
          uid: ctx.newUid,
          total_size: 0,
          recording_count: 0,
          recording_files: request.recording_files ?? [],
          sessions: request.sessions ?? [],
          created_at: timestamp,
          updated_at: timestamp,
        };
        return recordings.create(recording, ctx.log);
      },
    }),

    endpoint({
      subject: "lfx.recordings.get",
      access: { request: ({ uid }) => rules.artifactReaderOf(kind.repo, kind.entity, uid) },
      handle: ({ uid }) => recordings.get(uid),
    }),

    endpoint({
      subject: "lfx.recordings.update",
      access: { request: ({ uid }) => rules.childOrganizer(kind.repo, kind.entity, uid) },
      handle: ({ uid, revision, ...patch }) => recordings.update(uid, revision, patch),
    }),

    endpoint({
      subject: "lfx.recordings.delete",
      access: { request: ({ uid }) => rules.childOrganizer(kind.repo, kind.entity, uid) },
      handle: ({ uid, revision }, ctx) => recordings.remove(uid, revision, ctx.log),
    }),

    endpoint({
      subject: "lfx.recordings.list",
      access: { request: ({ past_meeting_uid }) => rules.artifactReader(past_meeting_uid) },
      handle: ({ past_meeting_uid, limit, cursor }) =>
        recordings.list(past_meeting_uid, limit, cursor),
    }),
  ];
}
