// Cross-bucket consistency (docs/CONTRACT.md §1 `npm run check-consistency`). Multi-key writes are
// ordered so that a crash between two steps leaves only what this finds: index and claim keys
// without their entity, entities without an index key or claim, counters and uid lists that
// drifted, dependents whose parent is gone. Each finding is one line naming the key or uid; with
// `repair` each is fixed as it is found. It reads the buckets through the store's repositories and
// key layouts (src/store/), one check per family of buckets, in this order:
//
//   registrants   registrant <-> index keys and email claim; registrant -> meeting
//   rsvps         RSVP <-> index keys and answer claim; RSVP -> registrant
//   meetings      meeting <-> index keys; meeting <-> settings; registrant_count
//   artifacts     artifact <-> index key; artifact -> past meeting
//   past meetings participant <-> index key and email claim; participant -> past meeting;
//                 past meeting <-> index keys and start claim; recording/transcript/summary uids
//
// Memory is bounded whatever the size of the buckets (docs/RELIABILITY.md): keys are listed a
// page at a time (check.ts), values read with bounded parallelism, and the two checks that need
// facts about many entities at once, a meeting's registrant_count and a past meeting's artifact
// uid lists, take their parents a page at a time (`pageSize`) and count the children of a page
// in one pass over the children's index keys, `index/meeting/{meeting_uid}/{uid}` and
// `index/past-meeting/{past_meeting_uid}/{uid}` (docs/CONTRACT.md §6), whose key names the
// parent. The index-key findings of the children's own walk correct those counts, so that they
// count entities as if every index key were right.
//
// Keys written within the grace period are left alone: they may belong to a request in flight,
// so the grace is at most the request deadline (check-consistency.ts).
//
// Repairs are safe beside live writers: every delete is at the revision that was judged, every
// missing key is created create-only, counters move by the difference found (never to an
// absolute number) and uid lists lose only the uids judged dangling. Two entities holding one
// unique fact (`duplicate`) are reported and left for a person to decide.
import type { JetStreamClient } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { ENTITY_BUCKETS } from "../outbox/sources.js";
import {
  RecordingsRepository,
  SummariesRepository,
  TranscriptsRepository,
} from "../store/resources/artifacts.js";
import { bindBuckets } from "../store/kv/buckets.js";
import { MeetingSettingsRepository } from "../store/resources/meeting-settings.js";
import { MeetingsRepository } from "../store/resources/meetings.js";
import { ParticipantsRepository } from "../store/resources/participants.js";
import { PastMeetingsRepository } from "../store/resources/past-meetings.js";
import { RegistrantsRepository } from "../store/resources/registrants.js";
import type { Repositories } from "../store/resources/repositories.js";
import { RsvpsRepository } from "../store/resources/rsvps.js";
import { checkArtifacts } from "./consistency/artifacts.js";
import { Check, type Finding, type Progress } from "./consistency/check.js";
import { checkMeetings } from "./consistency/meetings.js";
import { checkPastMeetings } from "./consistency/past-meetings.js";
import { checkRegistrants } from "./consistency/registrants.js";
import { checkRsvps } from "./consistency/rsvps.js";

export type { Finding, Progress };

/** The buckets a check reads, as KV handles (how tests plant damage in them). */
export interface ConsistencyBuckets {
  meetings: KV;
  meetingSettings: KV;
  registrants: KV;
  rsvps: KV;
  pastMeetings: KV;
  participants: KV;
  recordings: KV;
  transcripts: KV;
  summaries: KV;
}

export interface CheckOptions {
  repair: boolean;
  now: () => Date;
  /**
   * Keys younger than this may belong to a write in flight and are not judged. No default: the
   * command line passes the request deadline, the longest a write can be in flight, and a longer
   * grace would hide drift planted just before a run (issue 11).
   */
  graceMs: number;
  /**
   * Parents (meetings, past meetings) judged per pass over their children's index keys (default
   * 10,000): memory follows this, and the number of passes is the number of parents over it.
   */
  pageSize?: number;
  /**
   * JetStream client for the key listings (default: the one given for reads), with a timeout
   * long enough for a listing's first page on a large bucket.
   */
  listingJs?: JetStreamClient;
  onFinding: (finding: Finding) => void;
  onProgress?: (progress: Progress) => void;
}

const DEFAULT_PAGE_SIZE = 10_000;

type CheckedRepositories = Omit<
  Repositories,
  "registrantClaims" | "rsvpClaims" | "pastMeetingClaims" | "participantClaims"
>;

/** Runs every check; resolves with the number of findings. */
export async function checkConsistency(
  js: JetStreamClient,
  options: CheckOptions,
): Promise<number> {
  const repos = await bindRepositories(js, options.listingJs ?? js);
  const check = new Check({
    repair: options.repair,
    now: options.now,
    graceMs: options.graceMs,
    pageSize: Math.max(1, options.pageSize ?? DEFAULT_PAGE_SIZE),
    onFinding: options.onFinding,
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
  });
  const registrants = await checkRegistrants(check, repos);
  await checkRsvps(check, repos);
  await checkMeetings(check, repos, registrants);
  const artifacts = await checkArtifacts(check, repos);
  await checkPastMeetings(check, repos, artifacts);
  return check.findings;
}

/**
 * The repositories of the nine entity buckets, bound as they are: a consistency check never
 * creates a bucket. Listings read through `listingJs`'s manager.
 */
async function bindRepositories(
  js: JetStreamClient,
  listingJs: JetStreamClient,
): Promise<CheckedRepositories> {
  const buckets = await bindBuckets(
    { nc: connectionOf(js), js, jsm: await listingJs.jetstreamManager() },
    ENTITY_BUCKETS,
  );
  return {
    meetings: new MeetingsRepository(buckets.meetings),
    meetingSettings: new MeetingSettingsRepository(buckets.meetingSettings),
    registrants: new RegistrantsRepository(buckets.registrants),
    rsvps: new RsvpsRepository(buckets.rsvps),
    pastMeetings: new PastMeetingsRepository(buckets.pastMeetings),
    participants: new ParticipantsRepository(buckets.participants),
    recordings: new RecordingsRepository(buckets.recordings),
    transcripts: new TranscriptsRepository(buckets.transcripts),
    summaries: new SummariesRepository(buckets.summaries),
  };
}

/** The connection under a JetStream client, which keeps it as `nc` (its type leaves it out). */
function connectionOf(js: JetStreamClient): NatsConnection {
  const { nc } = js as JetStreamClient & { nc?: NatsConnection };
  if (nc === undefined) throw new TypeError("a JetStream client without its connection");
  return nc;
}
