// The `meeting-rsvps` bucket: an RSVP under its uid (docs/CONTRACT.md §6 direct key), and, encoded per §6:
//   index/meeting/{meeting_uid}/{uid}                      list by meeting
//   index/occurrence/{meeting_uid}/{occurrence_id}/{uid}   list by meeting and occurrence
//   index/registrant/{registrant_uid}/{uid}                the RSVPs deleted with a registrant
//   index/answer/{meeting_uid}/{registrant_uid}/{scope}/{occurrence_id | "all"}/{response}
//                                                          what each registrant answered: the
//                                                          occurrences' response counts are
//                                                          computed from these keys alone
//   unique/answer/{registrant_uid}/{scope}/{occurrence_id | "all"}   claim: the one RSVP of that
//                                                          registrant, scope and occurrence
import type { Rsvp } from "../../generated/schema-types.js";
import { decodeKey, encodeKey, encodeKeyPrefix, directKey } from "../kv/keys.js";
import type { Bucket } from "../kv/buckets.js";
import { IndexedRepository } from "../kv/indexed-repository.js";

export type StoredRsvp = Omit<Rsvp, "revision">;

export class RsvpsRepository extends IndexedRepository<StoredRsvp> {
  constructor(bucket: Bucket) {
    super(bucket, { keyOf: directKey, indexKeysOf: rsvpIndexKeys });
  }
}

/** Stands for "no occurrence" (scope all) where a key needs a segment. */
const ALL_OCCURRENCES = "all";

export function rsvpAnswerClaimKey(
  rsvp: Pick<StoredRsvp, "registrant_uid" | "scope" | "occurrence_id">,
): string {
  return encodeKey([
    "unique",
    "answer",
    rsvp.registrant_uid,
    rsvp.scope,
    rsvp.occurrence_id ?? ALL_OCCURRENCES,
  ]);
}

export function rsvpIndexKeys(rsvp: StoredRsvp): string[] {
  const { uid, meeting_uid, registrant_uid, occurrence_id } = rsvp;
  const keys = [
    encodeKey(["index", "meeting", meeting_uid, uid]),
    encodeKey(["index", "registrant", registrant_uid, uid]),
  ];
  if (occurrence_id !== undefined) {
    keys.push(encodeKey(["index", "occurrence", meeting_uid, occurrence_id, uid]));
  }
  keys.push(
    encodeKey([
      "index",
      "answer",
      meeting_uid,
      registrant_uid,
      rsvp.scope,
      occurrence_id ?? ALL_OCCURRENCES,
      rsvp.response,
    ]),
  );
  return keys;
}

export function answersOfMeetingPrefix(meetingUid: string): string {
  return encodeKeyPrefix(["index", "answer", meetingUid]);
}

/** An answer read back from its index key. */
export interface AnswerKey {
  registrant_uid: string;
  scope: StoredRsvp["scope"];
  occurrence_id: string | undefined;
  response: StoredRsvp["response"];
}

export function parseAnswerKey(key: string): AnswerKey {
  const [, , , registrant_uid = "", scope, occurrence, response] = decodeKey(key);
  return {
    registrant_uid,
    scope: scope as AnswerKey["scope"],
    occurrence_id: occurrence === ALL_OCCURRENCES ? undefined : occurrence,
    response: response as AnswerKey["response"],
  };
}

export function rsvpsOfMeetingPrefix(meetingUid: string): string {
  return encodeKeyPrefix(["index", "meeting", meetingUid]);
}

export function rsvpsOfOccurrencePrefix(meetingUid: string, occurrenceId: string): string {
  return encodeKeyPrefix(["index", "occurrence", meetingUid, occurrenceId]);
}

export function rsvpsOfRegistrantPrefix(registrantUid: string): string {
  return encodeKeyPrefix(["index", "registrant", registrantUid]);
}
