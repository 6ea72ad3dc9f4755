// The `past-meeting-recordings`, `past-meeting-transcripts` and `past-meeting-summaries` buckets:
// an artifact under its uid (docs/CONTRACT.md §6 direct key), and, encoded per §6,
//   index/past-meeting/{past_meeting_uid}/{uid}   list by past meeting
// holding the artifact uid. The past meeting lists the uids of its artifacts in
// recording_uids / transcript_uids / summary_uids (kept by handlers/artifacts.ts).
import type { Recording, Summary, Transcript } from "../../generated/schema-types.js";
import type { Bucket } from "../kv/buckets.js";
import { directKey } from "../kv/keys.js";
import { IndexedRepository } from "../kv/indexed-repository.js";
import { pastMeetingChildKey } from "./past-meetings.js";

export type StoredRecording = Omit<Recording, "revision">;
export type StoredTranscript = Omit<Transcript, "revision">;
export type StoredSummary = Omit<Summary, "revision">;
type StoredArtifact = { uid: string; past_meeting_uid: string };

/** The three artifact buckets share one layout. */
export class ArtifactsRepository<S extends StoredArtifact> extends IndexedRepository<S> {
  constructor(bucket: Bucket) {
    super(bucket, { keyOf: directKey, indexKeysOf: artifactIndexKeys });
  }
}
export class RecordingsRepository extends ArtifactsRepository<StoredRecording> {}
export class TranscriptsRepository extends ArtifactsRepository<StoredTranscript> {}
export class SummariesRepository extends ArtifactsRepository<StoredSummary> {}

export function artifactIndexKeys(artifact: { uid: string; past_meeting_uid: string }): string[] {
  return [pastMeetingChildKey(artifact.past_meeting_uid, artifact.uid)];
}
