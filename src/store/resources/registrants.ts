// The `meeting-registrants` bucket (docs/CONTRACT.md §6), every key encoded per segment:
//   registrant/{uid}                             the registrant
//   index/meeting/{meeting_uid}/{uid}            list by meeting; written last: it commits the registrant
//   index/email/{email}/{uid}                    list by email (lower-case)
//   index/occurrence/{meeting_uid}/{occurrence_id}/{uid}   registrants of one occurrence
//   unique/meeting-email/{meeting_uid}/{email}   uniqueness claim, value {uid, claimed_at}
// Index keys hold the registrant uid. Lists read them from the stream (../kv/stream-pages.ts).
import type { Registrant } from "../../generated/schema-types.js";
import { decodeKey, encodeKey, encodeKeyPrefix } from "../kv/keys.js";
import type { Bucket } from "../kv/buckets.js";
import { IndexedRepository } from "../kv/indexed-repository.js";
import type { CountedKeys } from "../kv/kv-repository.js";
import type { StoredMeeting } from "./meetings.js";

export type StoredRegistrant = Omit<Registrant, "revision">;

export class RegistrantsRepository extends IndexedRepository<StoredRegistrant> {
  /**
   * The meeting's registrants now: its stored fold (`registrant_count` as of
   * `registrant_count_seq`) plus the messages under it after that (handlers/registrant-count.ts).
   * A meeting stored before the fold existed has no sequence: its keys are counted.
   */
  countOfMeeting(meeting: StoredMeeting): Promise<CountedKeys> {
    const { uid, registrant_count: count, registrant_count_seq: seq } = meeting;
    return this.countUnder(
      registrantsOfMeetingPrefix(uid),
      seq === undefined ? undefined : { count, seq },
    );
  }

  /** The meeting's registrants counted from its keys alone (check-consistency's repair). */
  recountOfMeeting(meetingUid: string): Promise<CountedKeys> {
    return this.countUnder(registrantsOfMeetingPrefix(meetingUid));
  }

  constructor(bucket: Bucket) {
    super(bucket, {
      keyOf: registrantKey,
      indexKeysOf: registrantIndexKeys,
      // A registrant counts (registrant_count, lists by meeting) while it has this key.
      commitKeyOf: ({ meeting_uid, uid }) => registrantOfMeetingKey(meeting_uid, uid),
    });
  }
}

export function registrantKey(uid: string): string {
  return encodeKey(["registrant", uid]);
}

export function registrantEmailClaimKey(meetingUid: string, email: string): string {
  return encodeKey(["unique", "meeting-email", meetingUid, email]);
}

/** The registrant's key under its meeting: it commits the registrant (docs/ARCHITECTURE.md "Writes"). */
export function registrantOfMeetingKey(meetingUid: string, uid: string): string {
  return encodeKey(["index", "meeting", meetingUid, uid]);
}

export function registrantIndexKeys(registrant: StoredRegistrant): string[] {
  const { uid, meeting_uid, email, occurrence_id } = registrant;
  const keys = [
    registrantOfMeetingKey(meeting_uid, uid),
    encodeKey(["index", "email", email, uid]),
  ];
  if (occurrence_id !== undefined) {
    keys.push(encodeKey(["index", "occurrence", meeting_uid, occurrence_id, uid]));
  }
  return keys;
}

export function registrantsOfMeetingPrefix(meetingUid: string): string {
  return encodeKeyPrefix(["index", "meeting", meetingUid]);
}

export function registrantsOfEmailPrefix(email: string): string {
  return encodeKeyPrefix(["index", "email", email]);
}

/** Registrants for one occurrence only, of every occurrence of the meeting. */
export function registrantsOfOccurrencesPrefix(meetingUid: string): string {
  return encodeKeyPrefix(["index", "occurrence", meetingUid]);
}

/** The occurrence id of a key under `registrantsOfOccurrencesPrefix`. */
export function occurrenceOfIndexKey(key: string): string {
  return decodeKey(key)[3] ?? "";
}
