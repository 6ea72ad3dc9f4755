// The `past-meeting-recordings`, `past-meeting-transcripts` and `past-meeting-summaries` buckets:
// an artifact under its uid (docs/CONTRACT.md §6 direct key), and, encoded per §6,
//   index/past-meeting/{past_meeting_uid}/{uid}   list by past meeting
// holding the artifact uid, written after the artifact: it commits it. The past meeting lists the
// uids of its artifacts in recording_uids / transcript_uids / summary_uids, replayed from those
// keys (handlers/artifact-lists.ts).
import type { Recording, Summary, Transcript } from "../../generated/schema-types.js";
import type { Bucket } from "../kv/buckets.js";
import { directKey } from "../kv/keys.js";
import { IndexedRepository } from "../kv/indexed-repository.js";
import type { FoldedUids } from "../kv/kv-repository.js";
import {
  pastMeetingChildKey,
  pastMeetingChildrenPrefix,
  type StoredPastMeeting,
  type UidList,
} from "./past-meetings.js";

export type StoredRecording = Omit<Recording, "revision">;
export type StoredTranscript = Omit<Transcript, "revision">;
export type StoredSummary = Omit<Summary, "revision">;
type StoredArtifact = { uid: string; past_meeting_uid: string };

/** The three artifact buckets share one layout. */
export class ArtifactsRepository<S extends StoredArtifact> extends IndexedRepository<S> {
  /**
   * The uids of the past meeting's artifacts in this bucket now: its stored `list` replayed on
   * from where it was stored (handlers/artifact-lists.ts); in full for a past meeting stored
   * before the lists were replayed (no sequence).
   */
  uidsOfPastMeeting(pastMeeting: StoredPastMeeting, list: UidList): Promise<FoldedUids> {
    const seq = pastMeeting.uid_lists_seq?.[list];
    return this.uidsUnder(
      pastMeetingChildrenPrefix(pastMeeting.uid),
      seq === undefined ? undefined : { uids: pastMeeting[list], seq },
    );
  }

  constructor(bucket: Bucket) {
    super(bucket, {
      keyOf: directKey,
      indexKeysOf: artifactIndexKeys,
      // An artifact is in its past meeting's list while it has this key (handlers/artifact-lists.ts).
      commitKeyOf: ({ past_meeting_uid, uid }) => pastMeetingChildKey(past_meeting_uid, uid),
    });
  }
}
export class RecordingsRepository extends ArtifactsRepository<StoredRecording> {}
export class TranscriptsRepository extends ArtifactsRepository<StoredTranscript> {}
export class SummariesRepository extends ArtifactsRepository<StoredSummary> {}

export function artifactIndexKeys(artifact: { uid: string; past_meeting_uid: string }): string[] {
  return [pastMeetingChildKey(artifact.past_meeting_uid, artifact.uid)];
}
