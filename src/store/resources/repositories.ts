// One repository per bucket, built over the opened buckets, plus the claims kept beside them.
import type { Buckets } from "../kv/buckets.js";
import { KvRepository } from "../kv/kv-repository.js";
import type { Claim } from "../kv/claims.js";
import { MeetingSettingsRepository } from "./meeting-settings.js";
import { MeetingsRepository } from "./meetings.js";
import { RegistrantsRepository } from "./registrants.js";
import { RsvpsRepository } from "./rsvps.js";
import { PastMeetingsRepository } from "./past-meetings.js";
import { ParticipantsRepository } from "./participants.js";
import { RecordingsRepository, SummariesRepository, TranscriptsRepository } from "./artifacts.js";

export interface Repositories {
  meetings: MeetingsRepository;
  meetingSettings: MeetingSettingsRepository;
  registrants: RegistrantsRepository;
  /** Uniqueness claims in the registrants bucket (email per meeting). */
  registrantClaims: KvRepository<Claim>;
  rsvps: RsvpsRepository;
  /** Uniqueness claims in the RSVPs bucket (one answer per registrant, scope and occurrence). */
  rsvpClaims: KvRepository<Claim>;
  pastMeetings: PastMeetingsRepository;
  /** Claims in the past-meetings bucket (one past meeting per meeting and occurrence). */
  pastMeetingClaims: KvRepository<Claim>;
  participants: ParticipantsRepository;
  /** Claims in the participants bucket (one participant per past meeting and email). */
  participantClaims: KvRepository<Claim>;
  recordings: RecordingsRepository;
  transcripts: TranscriptsRepository;
  summaries: SummariesRepository;
}

export function createRepositories(buckets: Buckets): Repositories {
  return {
    meetings: new MeetingsRepository(buckets.meetings),
    meetingSettings: new MeetingSettingsRepository(buckets.meetingSettings),
    registrants: new RegistrantsRepository(buckets.registrants),
    registrantClaims: new KvRepository<Claim>(buckets.registrants),
    rsvps: new RsvpsRepository(buckets.rsvps),
    rsvpClaims: new KvRepository<Claim>(buckets.rsvps),
    pastMeetings: new PastMeetingsRepository(buckets.pastMeetings),
    pastMeetingClaims: new KvRepository<Claim>(buckets.pastMeetings),
    participants: new ParticipantsRepository(buckets.participants),
    participantClaims: new KvRepository<Claim>(buckets.participants),
    recordings: new RecordingsRepository(buckets.recordings),
    transcripts: new TranscriptsRepository(buckets.transcripts),
    summaries: new SummariesRepository(buckets.summaries),
  };
}
