// The `past-meeting-recordings`, `past-meeting-transcripts` and `past-meeting-summaries` buckets:
// an artifact under its uid (CONTRACT §6 direct key), and, encoded per §6,
//   index/past-meeting/{past_meeting_uid}/{uid}   list by past meeting
// holding the artifact uid. The past meeting lists the uids of its artifacts in
// recording_uids / transcript_uids / summary_uids (kept by handlers/artifacts.ts).
import type { Recording, Summary, Transcript } from "../generated/schema-types.js";
import { KvRepository } from "./kv-repository.js";
import { pastMeetingChildKey } from "./past-meetings.js";

export type StoredRecording = Omit<Recording, "revision">;
export type StoredTranscript = Omit<Transcript, "revision">;
export type StoredSummary = Omit<Summary, "revision">;

export class RecordingsRepository extends KvRepository<StoredRecording> {}
export class TranscriptsRepository extends KvRepository<StoredTranscript> {}
export class SummariesRepository extends KvRepository<StoredSummary> {}

export function artifactIndexKeys(artifact: { uid: string; past_meeting_uid: string }): string[] {
  return [pastMeetingChildKey(artifact.past_meeting_uid, artifact.uid)];
}
