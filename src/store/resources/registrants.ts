// The `meeting-registrants` bucket (docs/CONTRACT.md §6), every key encoded per segment:
//   registrant/{uid}                             the registrant
//   index/meeting/{meeting_uid}/{uid}            list by meeting
//   index/email/{email}/{uid}                    list by email (lower-case)
//   index/occurrence/{meeting_uid}/{occurrence_id}/{uid}   registrants of one occurrence
//   unique/meeting-email/{meeting_uid}/{email}   uniqueness claim, value {uid, claimed_at}
// Index keys hold the registrant uid. Lists read them from the stream (../kv/stream-pages.ts).
import type { Registrant } from "../../generated/schema-types.js";
import { decodeKey, encodeKey, encodeKeyPrefix } from "../kv/keys.js";
import type { Bucket } from "../kv/buckets.js";
import { IndexedRepository } from "../kv/indexed-repository.js";

export type StoredRegistrant = Omit<Registrant, "revision">;

export class RegistrantsRepository extends IndexedRepository<StoredRegistrant> {
  constructor(bucket: Bucket) {
    super(bucket, { keyOf: registrantKey, indexKeysOf: registrantIndexKeys });
  }
}

export function registrantKey(uid: string): string {
  return encodeKey(["registrant", uid]);
}

export function registrantEmailClaimKey(meetingUid: string, email: string): string {
  return encodeKey(["unique", "meeting-email", meetingUid, email]);
}

export function registrantIndexKeys(registrant: StoredRegistrant): string[] {
  const { uid, meeting_uid, email, occurrence_id } = registrant;
  const keys = [
    encodeKey(["index", "meeting", meeting_uid, uid]),
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
