// The `past-meeting-participants` bucket: a participant under its uid (docs/CONTRACT.md §6 direct key),
// and, encoded per §6:
//   index/past-meeting/{past_meeting_uid}/{uid}          list by past meeting
//   unique/past-meeting-email/{past_meeting_uid}/{email} claim: the one participant of that
//                                                        email (lower-case), value {uid, claimed_at}
// The claim is how lfx.participants.join finds or creates a participant atomically, and how
// leave finds it with one get.
import type { Participant } from "../../generated/schema-types.js";
import { encodeKey, directKey } from "../kv/keys.js";
import type { Bucket } from "../kv/buckets.js";
import { IndexedRepository } from "../kv/indexed-repository.js";
import { pastMeetingChildKey } from "./past-meetings.js";

export type StoredParticipant = Omit<Participant, "revision">;

export class ParticipantsRepository extends IndexedRepository<StoredParticipant> {
  constructor(bucket: Bucket) {
    super(bucket, { keyOf: directKey, indexKeysOf: participantIndexKeys });
  }
}

export function participantIndexKeys(participant: StoredParticipant): string[] {
  return [pastMeetingChildKey(participant.past_meeting_uid, participant.uid)];
}

export function participantEmailClaimKey(pastMeetingUid: string, email: string): string {
  return encodeKey(["unique", "past-meeting-email", pastMeetingUid, email]);
}
