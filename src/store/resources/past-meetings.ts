// The `past-meetings` bucket: a past meeting under its uid (docs/CONTRACT.md §6 direct key), and, encoded
// per §6:
//   index/meeting/{meeting_uid}/{uid}              list by meeting
//   index/project/{project_uid}/{uid}              list by project
//   unique/start/{meeting_uid}/{occurrence_id}     claim: the one past meeting of that occurrence,
//                                                  value {uid, claimed_at} (store/kv/claims.ts)
// Index keys hold the past meeting uid; lists read them from the stream (../kv/stream-pages.ts), and
// a list of every past meeting reads the direct keys. The claim is what makes
// lfx.past-meetings.start idempotent per (meeting, occurrence) on any number of instances.
//
// The buckets of its children (participants, recordings, transcripts, summaries) each index them
// by parent with the same layout, `index/past-meeting/{past_meeting_uid}/{uid}`, built here.
import type { PastMeeting } from "../../generated/schema-types.js";
import { encodeKey, encodeKeyPrefix, directKey } from "../kv/keys.js";
import type { Bucket } from "../kv/buckets.js";
import { IndexedRepository } from "../kv/indexed-repository.js";

/** The past meeting's lists of its artifacts' uids, one per artifact bucket. */
export type UidList = "recording_uids" | "transcript_uids" | "summary_uids";

/**
 * A past meeting as stored: the reply without `revision`, plus the stream sequence of each
 * artifact bucket up to which its list has been replayed (handlers/artifact-lists.ts); absent on
 * past meetings stored before that. Replies and events never show it.
 */
export type StoredPastMeeting = Omit<PastMeeting, "revision"> & {
  uid_lists_seq?: Partial<Record<UidList, number>>;
};

export class PastMeetingsRepository extends IndexedRepository<StoredPastMeeting> {
  constructor(bucket: Bucket) {
    super(bucket, { keyOf: directKey, indexKeysOf: pastMeetingIndexKeys });
  }
}

export type PastMeetingFilter = { kind: "meeting" | "project"; uid: string };

export function pastMeetingIndexKeys(pastMeeting: StoredPastMeeting): string[] {
  const { uid, meeting_uid, project_uid } = pastMeeting;
  return [
    encodeKey(["index", "meeting", meeting_uid, uid]),
    encodeKey(["index", "project", project_uid, uid]),
  ];
}

export function pastMeetingIndexPrefix(filter: PastMeetingFilter): string {
  return encodeKeyPrefix(["index", filter.kind, filter.uid]);
}

export function pastMeetingStartClaimKey(meetingUid: string, occurrenceId: string): string {
  return encodeKey(["unique", "start", meetingUid, occurrenceId]);
}

/** The index key of a child (participant, artifact) of a past meeting, in the child's bucket. */
export function pastMeetingChildKey(pastMeetingUid: string, uid: string): string {
  return encodeKey(["index", "past-meeting", pastMeetingUid, uid]);
}

/** Every child index key of one past meeting, in the child's bucket. */
export function pastMeetingChildrenPrefix(pastMeetingUid: string): string {
  return encodeKeyPrefix(["index", "past-meeting", pastMeetingUid]);
}
