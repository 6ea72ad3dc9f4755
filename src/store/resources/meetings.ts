// The `meetings` bucket: a meeting under its uid (docs/CONTRACT.md §6 direct key), and index keys
// `index/project/{project_uid}/{uid}` and `index/committee/{committee_uid}/{uid}` (encoded per §6)
// that lists by project or committee read from the stream (../kv/stream-pages.ts). An index key's value
// is the meeting uid. Stored values carry neither `revision` nor the computed `occurrences`.
import type { OccurrenceEdits } from "../../domain/occurrence-edits.js";
import type { Meeting } from "../../generated/schema-types.js";
import { encodeKey, encodeKeyPrefix, directKey } from "../kv/keys.js";
import type { Bucket } from "../kv/buckets.js";
import { IndexedRepository } from "../kv/indexed-repository.js";

/**
 * A meeting as stored: the reply without `revision` and the computed `occurrences`, plus the ids
 * of its cancelled occurrences and its edited occurrences (docs/CONTRACT.md §12; domain/occurrence-edits.ts),
 * both kept with the meeting and shown through its occurrences, never as fields of their own.
 * `email_delivery_error_count` is absent from meetings stored before invitations existed; replies
 * show it as 0 (meeting-view.ts). Replies and events never show `registrant_count_seq` and `registrations_begun`.
 */
export type StoredMeeting = Omit<
  Meeting,
  "revision" | "occurrences" | "email_delivery_error_count"
> & {
  email_delivery_error_count?: number;
  cancelled_occurrences?: string[];
  occurrence_edits?: OccurrenceEdits;
  /**
   * The meeting-registrants stream sequence up to which `registrant_count` has counted the
   * meeting's registrants (handlers/registrant-count.ts); absent on meetings stored before it.
   */
  registrant_count_seq?: number;
  /**
   * Set before the meeting's first registrant is written: until then the meeting has none, and
   * a read of its count need not look for any (handlers/registrant-count.ts).
   */
  registrations_begun?: true;
};

export type MeetingFilter = { kind: "project" | "committee"; uid: string };

export function meetingIndexKeys(meeting: StoredMeeting): string[] {
  const keys = [encodeKey(["index", "project", meeting.project_uid, meeting.uid])];
  for (const committee of meeting.committees ?? []) {
    keys.push(encodeKey(["index", "committee", committee.uid, meeting.uid]));
  }
  return [...new Set(keys)];
}

export function meetingIndexPrefix(filter: MeetingFilter): string {
  return encodeKeyPrefix(["index", filter.kind, filter.uid]);
}

export class MeetingsRepository extends IndexedRepository<StoredMeeting> {
  constructor(bucket: Bucket) {
    super(bucket, { keyOf: directKey, indexKeysOf: meetingIndexKeys });
  }
}
