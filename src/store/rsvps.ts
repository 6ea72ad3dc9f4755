// The `meeting-rsvps` bucket: an RSVP under its uid (CONTRACT §6 direct key), and, encoded per §6:
//   index/meeting/{meeting_uid}/{uid}                      list by meeting
//   index/occurrence/{meeting_uid}/{occurrence_id}/{uid}   list by meeting and occurrence
//   index/registrant/{registrant_uid}/{uid}                the RSVPs deleted with a registrant
//   unique/answer/{registrant_uid}/{scope}/{occurrence_id | "all"}   claim: the one RSVP of that
//                                                          registrant, scope and occurrence
import type { Rsvp } from "../generated/schema-types.js";
import { encodeKey, encodeKeyPrefix } from "./keys.js";
import { KvRepository } from "./kv-repository.js";

export type StoredRsvp = Omit<Rsvp, "revision">;

export class RsvpsRepository extends KvRepository<StoredRsvp> {}

export function rsvpAnswerClaimKey(
  rsvp: Pick<StoredRsvp, "registrant_uid" | "scope" | "occurrence_id">,
): string {
  return encodeKey([
    "unique",
    "answer",
    rsvp.registrant_uid,
    rsvp.scope,
    rsvp.occurrence_id ?? "all",
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
  return keys;
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
