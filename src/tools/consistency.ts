// Cross-bucket consistency (docs/CONTRACT.md §1 `npm run check-consistency`). Multi-key writes are ordered
// so that a crash between two steps leaves only what this finds: index and claim keys without
// their entity, entities without an index key or claim, counters and uid lists that drifted,
// dependents whose parent is gone. Each finding is one line naming the key or uid; with `repair`
// each is fixed as it is found.
//
// Memory is bounded whatever the size of the buckets. Keys are listed a batch at a time, the next
// batch fetched only once the keys before it have been checked (`listKeys`), and values are read
// one at a time with bounded parallelism. The two checks that need facts about many entities at
// once, a meeting's registrant_count and a past meeting's artifact uid lists, take their parents
// a page at a time (`pageSize`) and count the children of a page in one pass over the children's
// index keys, `index/meeting/{meeting_uid}/{uid}` and `index/past-meeting/{past_meeting_uid}/{uid}`
// (docs/CONTRACT.md §6): the parent is in the key, so a pass reads no value. The index-key findings of
// the children's own walk correct those counts (`IndexCorrections`), so that they count entities
// as if every index key were right. What is held: one page of parents with their counts, one
// entry per index-key finding, and the parents of children written within the grace period.
//
// Keys written within the grace period are left alone: they may belong to a request in flight.
//
// Repairs are safe beside live writers: every delete is at the revision that was judged, every
// missing key is created create-only, counters move by the difference found (never to an
// absolute number) and uid lists lose only the uids judged dangling. Two entities holding one
// unique fact (`duplicate`) are reported and left for a person to decide.
import { DeliverPolicy, type JetStreamClient } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import pLimit from "p-limit";
import { artifactIndexKeys } from "../store/resources/artifacts.js";
import { BUCKET_NAMES } from "../store/kv/buckets.js";
import type { Claim } from "../store/kv/claims.js";
import { decodeKey, encodeKey, encodeKeyPrefix, isDirectKey } from "../store/kv/keys.js";
import { RevisionConflict, translateStoreError } from "../store/kv/kv-repository.js";
import { meetingIndexKeys, type StoredMeeting } from "../store/resources/meetings.js";
import {
  participantEmailClaimKey,
  participantIndexKeys,
  type StoredParticipant,
} from "../store/resources/participants.js";
import {
  pastMeetingIndexKeys,
  pastMeetingStartClaimKey,
  type StoredPastMeeting,
} from "../store/resources/past-meetings.js";
import {
  registrantEmailClaimKey,
  registrantIndexKeys,
  registrantKey,
  type StoredRegistrant,
} from "../store/resources/registrants.js";
import { rsvpAnswerClaimKey, rsvpIndexKeys, type StoredRsvp } from "../store/resources/rsvps.js";

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

export interface Finding {
  kind: string;
  bucket: string;
  /** The logical key or uid at fault. */
  subject: string;
  message: string;
}

export interface Progress {
  /** The bucket whose keys are being read. */
  bucket: string;
  /** Keys read so far by this walk or pass. */
  keys: number;
  /** Set while counting the children of one page of parents: the parents, and the page (from 1). */
  pass?: { parents: string; page: number };
}

export interface CheckOptions {
  repair: boolean;
  now: () => Date;
  /** Keys younger than this may belong to a write in flight and are not judged (default 60 s; the
   * command line passes the request deadline). */
  graceMs?: number;
  /**
   * Parents (meetings, past meetings) judged per pass over their children's index keys (default
   * 10,000): memory follows this, and the number of passes is the number of parents over it.
   */
  pageSize?: number;
  /**
   * JetStream client for the key listings (default: the one given for reads). Give it a long
   * timeout: on nats-server 2.9 creating a listing's consumer walks the whole bucket (docs/MEASUREMENTS.md).
   */
  listingJs?: JetStreamClient;
  onFinding: (finding: Finding) => void;
  onProgress?: (progress: Progress) => void;
}

const PARALLEL_READS = 32;
const DEFAULT_PAGE_SIZE = 10_000;
/** Keys per fetch of a listing: what a listing holds at most, beyond the key being checked. */
const KEYS_PER_FETCH = 500;
const FETCH_EXPIRES_MS = 5_000;
/**
 * A listing's consumer is left idle while a page of parents is judged (a pass over the children):
 * the server must not remove it meanwhile. A listing that ends deletes its consumer.
 */
const LISTING_INACTIVE_MS = 30 * 60_000;
const KV_OPERATION_HEADER = "KV-Operation";

interface Entry<T> {
  value: T;
  revision: number;
  created: Date;
}

async function read<T>(kv: KV, key: string): Promise<Entry<T> | null> {
  const entry = await kv.get(key);
  if (entry === null || entry.operation !== "PUT") return null;
  return { value: entry.json<T>(), revision: entry.revision, created: entry.created };
}

/** An index key: its value is the bare uid it points to, not JSON. */
async function readMarker(
  kv: KV,
  key: string,
): Promise<{ uid: string; created: Date; revision: number } | null> {
  const entry = await kv.get(key);
  if (entry === null || entry.operation !== "PUT") return null;
  return { uid: entry.string(), created: entry.created, revision: entry.revision };
}

/**
 * Deletes a key only if it is still at the revision that was judged: a repair beside live writers
 * must never remove what a request wrote after the check read it.
 */
async function deleteAt(kv: KV, key: string, revision: number): Promise<void> {
  try {
    await kv.delete(key, { previousSeq: revision });
  } catch (err) {
    if (!(translateStoreError(err, "", key) instanceof RevisionConflict)) throw err;
  }
}

/** Creates a key that was judged missing; false when a writer created it meanwhile. */
async function createIfMissing(kv: KV, key: string, value: string): Promise<boolean> {
  try {
    await kv.create(key, value);
    return true;
  } catch (err) {
    if (!(translateStoreError(err, "", key) instanceof RevisionConflict)) throw err;
    return false;
  }
}

function logical(key: string): string {
  try {
    return decodeKey(key).join("/");
  } catch {
    return key;
  }
}

interface ListedKey {
  key: string;
  /** When its latest value was written. */
  created: Date;
}

/**
 * The keys of a bucket (under `filter`, one subject filter: nats-server 2.9 takes no more) with
 * their latest write time, deleted keys left out. A headers-only ordered pull consumer delivers
 * them a fetch at a time, and the next fetch is made only when the caller asks for the key after
 * the last one: nothing is requested ahead, so a slow caller holds one batch at most. The listing
 * ends with the keys the bucket had when it started.
 */
async function* listKeys(js: JetStreamClient, bucket: string, filter = ">") {
  const stream = `KV_${bucket}`;
  const prefix = `$KV.${bucket}.`;
  const head = (await js.streams.get(stream).then((s) => s.info(true))).state.last_seq;
  const consumer = await js.consumers.get(stream, {
    filter_subjects: prefix + filter,
    headers_only: true,
    deliver_policy: DeliverPolicy.LastPerSubject,
    inactive_threshold: LISTING_INACTIVE_MS,
  });
  try {
    if ((await consumer.info(true)).num_pending === 0) return;
    for (;;) {
      // A whole fetch is taken before its keys are handed out: a pull left open while the caller
      // is busy would be refilled by the library when its heartbeats stop.
      const batch: ListedKey[] = [];
      let received = 0;
      let last = false;
      const messages = await consumer.fetch({
        max_messages: KEYS_PER_FETCH,
        expires: FETCH_EXPIRES_MS,
      });
      for await (const msg of messages) {
        received += 1;
        const operation = msg.headers?.get(KV_OPERATION_HEADER);
        if (operation !== "DEL" && operation !== "PURGE") {
          const created = new Date(Math.floor(msg.info.timestampNanos / 1e6));
          batch.push({ key: msg.subject.slice(prefix.length), created });
        }
        if (msg.info.pending === 0 || msg.info.streamSequence >= head) {
          last = true;
          break;
        }
      }
      yield* batch;
      if (last) return;
      if (received === 0 && (await consumer.info()).num_pending === 0) return;
    }
  } finally {
    await consumer.delete().catch(() => undefined);
  }
}

/**
 * Index keys under `prefix` that a count must not take as they are, found by the walk of their
 * bucket: a missing one still counts its entity, an orphan one counts nothing. Both are skipped
 * when a pass meets them (a repair may have rewritten or removed them meanwhile), and the missing
 * ones are counted after it. One entry per finding: memory follows the damage, not the data.
 */
class IndexCorrections {
  private readonly counts = new Map<string, boolean>();

  constructor(readonly prefix: string) {}

  note(key: string, counts: boolean): void {
    if (key.startsWith(this.prefix)) this.counts.set(key, counts);
  }

  has(key: string): boolean {
    return this.counts.has(key);
  }

  missing(): string[] {
    return [...this.counts].flatMap(([key, counts]) => (counts ? [key] : []));
  }
}

/** What a walk needs of a page it fills: how full it is, and judging it. */
interface Pager {
  readonly size: number;
  flush(): Promise<void>;
}

/** Parents gathered for one pass over their children; `judge` compares and clears them. */
class Page<T> implements Pager {
  readonly parents = new Map<string, T>();
  private pages = 0;

  constructor(private readonly judge: (parents: Map<string, T>, page: number) => Promise<void>) {}

  get size(): number {
    return this.parents.size;
  }

  async flush(): Promise<void> {
    if (this.parents.size === 0) return;
    this.pages += 1;
    await this.judge(this.parents, this.pages);
    this.parents.clear();
  }
}

/**
 * How one bucket of entities hangs together: the keys an entity must have besides its own
 * (index keys holding its uid, claims holding `{uid}`), and the parent it cannot live without.
 */
interface EntitySpec<T extends { uid: string }> {
  bucket: string;
  kv: KV;
  /** The entity's own key from its uid. */
  entityKey(uid: string): string;
  isEntityKey(key: string): boolean;
  indexKeys(entity: T): string[];
  claimKeys(entity: T): string[];
  /** Why the entity is an orphan (its parent is gone), or null. */
  orphaned(entity: T): Promise<string | null>;
  /** Called for every entity that stays (to gather facts for later checks). */
  seen?(entity: T, young: boolean): void;
  /** Where index-key findings are noted for a later count of these entities by index key. */
  corrections?: IndexCorrections;
  /** Filled by `seen`; judged whenever it is full. */
  page?: Pager;
}

export async function checkConsistency(
  js: JetStreamClient,
  options: CheckOptions,
): Promise<number> {
  const graceMs = options.graceMs ?? 60_000;
  const pageSize = Math.max(1, options.pageSize ?? DEFAULT_PAGE_SIZE);
  const listingJs = options.listingJs ?? js;
  const limit = pLimit(PARALLEL_READS);
  let findings = 0;

  // Bind only: a consistency check never creates a bucket.
  const kvm = new Kvm(js);
  const buckets: ConsistencyBuckets = {
    meetings: await kvm.open(BUCKET_NAMES.meetings),
    meetingSettings: await kvm.open(BUCKET_NAMES.meetingSettings),
    registrants: await kvm.open(BUCKET_NAMES.registrants),
    rsvps: await kvm.open(BUCKET_NAMES.rsvps),
    pastMeetings: await kvm.open(BUCKET_NAMES.pastMeetings),
    participants: await kvm.open(BUCKET_NAMES.participants),
    recordings: await kvm.open(BUCKET_NAMES.recordings),
    transcripts: await kvm.open(BUCKET_NAMES.transcripts),
    summaries: await kvm.open(BUCKET_NAMES.summaries),
  };

  const isYoung = (created: Date) => options.now().getTime() - created.getTime() < graceMs;
  const found = (kind: string, bucket: string, subject: string, message: string) => {
    findings += 1;
    options.onFinding({ kind, bucket, subject, message });
  };
  const claimOf = (uid: string) =>
    JSON.stringify({ uid, claimed_at: options.now().toISOString() } satisfies Claim);

  /**
   * Visits every key of a bucket with bounded parallelism. With a page, the visits are let finish
   * and the page judged whenever they could fill it, so it never holds more than `pageSize`.
   */
  async function walk(
    bucket: string,
    visit: (key: string) => Promise<void>,
    page?: Pager,
  ): Promise<void> {
    let seen = 0;
    const pending = new Set<Promise<void>>();
    for await (const { key } of listKeys(listingJs, bucket)) {
      if (page !== undefined && page.size + pending.size >= pageSize) {
        await Promise.all(pending);
        if (page.size >= pageSize) await page.flush();
      }
      const task = limit(() => visit(key)).finally(() => pending.delete(task));
      pending.add(task);
      seen += 1;
      if (seen % 1000 === 0) options.onProgress?.({ bucket, keys: seen });
      if (pending.size >= PARALLEL_READS * 4) await Promise.race(pending);
    }
    await Promise.all(pending);
    await page?.flush();
    options.onProgress?.({ bucket, keys: seen });
  }

  /**
   * One pass over the index keys under `corrections.prefix` (`index/{kind}/{parent}/{uid}`) of a
   * bucket: `count(parent, uid)` for each that stands for an entity of a parent in `parents`.
   */
  async function countChildren(
    bucket: string,
    corrections: IndexCorrections,
    pass: { parents: string; page: number },
    parents: ReadonlyMap<string, unknown>,
    count: (parent: string, uid: string) => void,
  ): Promise<void> {
    // Compared as key tokens, so that only the keys of the page's parents are decoded.
    const parentOfToken = new Map([...parents.keys()].map((uid) => [encodeKey([uid]), uid]));
    const countKey = (key: string) => {
      const tokens = key.split(".");
      const parent = parentOfToken.get(tokens[2] ?? "");
      if (parent === undefined || tokens.length !== 4) return;
      const uid = logical(tokens[3] ?? "");
      count(parent, uid);
    };
    let keys = 0;
    for await (const { key, created } of listKeys(listingJs, bucket, `${corrections.prefix}>`)) {
      keys += 1;
      if (keys % 1000 === 0) options.onProgress?.({ bucket, keys, pass });
      // A young key's entity may not be written yet; a settled parent has no young children.
      if (corrections.has(key) || isYoung(created)) continue;
      countKey(key);
    }
    for (const key of corrections.missing()) countKey(key);
    options.onProgress?.({ bucket, keys, pass });
  }

  /** Entities, their index keys and claims, both ways; orphans are deleted with their keys. */
  async function checkEntities<T extends { uid: string }>(spec: EntitySpec<T>) {
    const { bucket, kv } = spec;
    const removeWithKeys = async (key: string, entity: T, revision: number) => {
      await deleteAt(kv, key, revision);
      await Promise.all([
        ...spec.indexKeys(entity).map(async (k) => {
          const marker = await readMarker(kv, k);
          if (marker?.uid === entity.uid) await deleteAt(kv, k, marker.revision);
        }),
        ...spec.claimKeys(entity).map(async (k) => {
          const claim = await read<Claim>(kv, k);
          if (claim?.value.uid === entity.uid) await deleteAt(kv, k, claim.revision);
        }),
      ]);
    };
    const visit = async (key: string) => {
      if (spec.isEntityKey(key)) {
        const entry = await read<T>(kv, key);
        if (entry === null) return;
        const entity = entry.value;
        const young = isYoung(entry.created);
        const orphanReason = young ? null : await spec.orphaned(entity);
        if (orphanReason !== null) {
          found("orphan-entity", bucket, entity.uid, orphanReason);
          if (options.repair) await removeWithKeys(key, entity, entry.revision);
          return;
        }
        spec.seen?.(entity, young);
        for (const indexKey of spec.indexKeys(entity)) {
          if ((await readMarker(kv, indexKey)) !== null) continue;
          found("missing-index-key", bucket, logical(indexKey), `missing for ${entity.uid}`);
          spec.corrections?.note(indexKey, true);
          if (options.repair) await createIfMissing(kv, indexKey, entity.uid);
        }
        for (const claimKey of spec.claimKeys(entity)) {
          const claim = await read<Claim>(kv, claimKey);
          if (claim?.value.uid === entity.uid) continue;
          const holder = claim === null ? null : await read<T>(kv, spec.entityKey(claim.value.uid));
          if (
            claim !== null &&
            holder !== null &&
            spec.claimKeys(holder.value).includes(claimKey)
          ) {
            // Two entities with one unique fact (e.g. the same email twice in a meeting): which
            // one goes is a decision for a person, so it is reported and never repaired.
            found(
              "duplicate",
              bucket,
              logical(claimKey),
              `${entity.uid} and ${claim.value.uid} both have it`,
            );
            continue;
          }
          found("missing-claim", bucket, logical(claimKey), `not held by ${entity.uid}`);
          if (!options.repair) continue;
          // A missing claim is created; one left by an entity that is gone is taken over at its
          // revision; either fails when a writer got there first, and then the next run judges.
          if (claim === null) await createIfMissing(kv, claimKey, claimOf(entity.uid));
          else
            await deleteAt(kv, claimKey, claim.revision).then(() =>
              createIfMissing(kv, claimKey, claimOf(entity.uid)),
            );
        }
        return;
      }
      // An index key or a claim: the entity it names must exist and have it.
      const marker = await readMarker(kv, key);
      if (marker === null || isYoung(marker.created)) return;
      const isClaim = decodeKey(key)[0] === "unique";
      const claim = isClaim ? await read<Claim>(kv, key) : null;
      const holder = isClaim ? (claim?.value.uid ?? "") : marker.uid;
      const entity = holder === "" ? null : await read<T>(kv, spec.entityKey(holder));
      const expected =
        entity === null
          ? []
          : isClaim
            ? spec.claimKeys(entity.value)
            : spec.indexKeys(entity.value);
      if (!expected.includes(key)) {
        found(
          isClaim ? "orphan-claim" : "orphan-index-key",
          bucket,
          logical(key),
          `${holder || "no entity"} does not match`,
        );
        if (!isClaim) spec.corrections?.note(key, false);
        if (options.repair) await deleteAt(kv, key, claim?.revision ?? marker.revision);
      }
    };
    await walk(bucket, visit, spec.page);
  }

  const exists = async (kv: KV, key: string) => (await readMarker(kv, key)) !== null;

  // Registrants, counted per meeting by their `index/meeting/{meeting_uid}/{uid}` keys for
  // registrant_count below; a meeting with a registrant written within the grace period is not
  // judged.
  const registrantCorrections = new IndexCorrections(encodeKeyPrefix(["index", "meeting"]));
  const meetingsInFlight = new Set<string>();
  await checkEntities<StoredRegistrant>({
    bucket: BUCKET_NAMES.registrants,
    kv: buckets.registrants,
    entityKey: registrantKey,
    isEntityKey: (key) => decodeKey(key)[0] === "registrant",
    indexKeys: registrantIndexKeys,
    claimKeys: (r) => [registrantEmailClaimKey(r.meeting_uid, r.email)],
    orphaned: async (r) =>
      (await exists(buckets.meetings, r.meeting_uid))
        ? null
        : `meeting ${r.meeting_uid} does not exist`,
    seen: (r, young) => {
      if (young) meetingsInFlight.add(r.meeting_uid);
    },
    corrections: registrantCorrections,
  });

  await checkEntities<StoredRsvp>({
    bucket: BUCKET_NAMES.rsvps,
    kv: buckets.rsvps,
    entityKey: (uid) => uid,
    isEntityKey: isDirectKey,
    indexKeys: rsvpIndexKeys,
    claimKeys: (r) => [rsvpAnswerClaimKey(r)],
    orphaned: async (r) =>
      (await exists(buckets.registrants, registrantKey(r.registrant_uid)))
        ? null
        : `registrant ${r.registrant_uid} does not exist`,
  });

  // Meetings: index keys both ways, settings, and registrant_count a page of meetings at a time
  // (their stored count by uid) against one pass over the registrants' meeting index keys.
  const meetingsPage = new Page<number>(async (page, number) => {
    const counted = new Map<string, number>();
    await countChildren(
      BUCKET_NAMES.registrants,
      registrantCorrections,
      { parents: BUCKET_NAMES.meetings, page: number },
      page,
      (meetingUid) => counted.set(meetingUid, (counted.get(meetingUid) ?? 0) + 1),
    );
    const repairs: Promise<void>[] = [];
    for (const [uid, registrantCount] of page) {
      const registrants = counted.get(uid) ?? 0;
      if (registrantCount === registrants) continue;
      found(
        "registrant-count",
        BUCKET_NAMES.meetings,
        uid,
        `registrant_count is ${registrantCount}, registrants ${registrants}`,
      );
      if (options.repair) {
        repairs.push(
          // By the difference found, not to the number counted: a registration made after the
          // count keeps its increment.
          modify<StoredMeeting>(buckets.meetings, uid, (m) => ({
            ...m,
            registrant_count: Math.max(0, m.registrant_count + registrants - registrantCount),
          })),
        );
      }
    }
    await Promise.all(repairs);
  });
  await walk(
    BUCKET_NAMES.meetings,
    async (key) => {
      if (!isDirectKey(key)) {
        const marker = await readMarker(buckets.meetings, key);
        if (marker === null || isYoung(marker.created)) return;
        const meeting = await read<StoredMeeting>(buckets.meetings, marker.uid);
        if (meeting === null || !meetingIndexKeys(meeting.value).includes(key)) {
          found(
            "orphan-index-key",
            "meetings",
            logical(key),
            `meeting ${marker.uid} does not match`,
          );
          if (options.repair) await deleteAt(buckets.meetings, key, marker.revision);
        }
        return;
      }
      const entry = await read<StoredMeeting>(buckets.meetings, key);
      if (entry === null) return;
      const meeting = entry.value;
      for (const indexKey of meetingIndexKeys(meeting)) {
        if (await exists(buckets.meetings, indexKey)) continue;
        found("missing-index-key", "meetings", logical(indexKey), `missing for ${meeting.uid}`);
        if (options.repair) await createIfMissing(buckets.meetings, indexKey, meeting.uid);
      }
      if (!(await exists(buckets.meetingSettings, meeting.uid)) && !isYoung(entry.created)) {
        found(
          "missing-settings",
          "meeting-settings",
          meeting.uid,
          `meeting ${meeting.uid} has no settings`,
        );
        if (options.repair) {
          const stamp = options.now().toISOString();
          const settings = {
            uid: meeting.uid,
            organizers: [],
            created_at: stamp,
            updated_at: stamp,
          };
          await createIfMissing(buckets.meetingSettings, meeting.uid, JSON.stringify(settings));
        }
      }
      if (!isYoung(entry.created) && !meetingsInFlight.has(meeting.uid)) {
        meetingsPage.parents.set(meeting.uid, meeting.registrant_count);
      }
    },
    meetingsPage,
  );

  await walk(BUCKET_NAMES.meetingSettings, async (key) => {
    const settings = await readMarker(buckets.meetingSettings, key);
    if (settings === null || isYoung(settings.created)) return;
    if (!(await exists(buckets.meetings, key))) {
      found("orphan-settings", "meeting-settings", key, `meeting ${key} does not exist`);
      if (options.repair) await deleteAt(buckets.meetingSettings, key, settings.revision);
    }
  });

  // The lifecycle: children of past meetings, and the uid lists of past meetings, a page at a
  // time against one pass over each artifact bucket's `index/past-meeting/...` keys.
  const pastMeetingGone = async (child: { past_meeting_uid: string }) =>
    (await exists(buckets.pastMeetings, child.past_meeting_uid))
      ? null
      : `past meeting ${child.past_meeting_uid} does not exist`;
  const artifactBuckets = (
    [
      [BUCKET_NAMES.recordings, buckets.recordings, "recording_uids"],
      [BUCKET_NAMES.transcripts, buckets.transcripts, "transcript_uids"],
      [BUCKET_NAMES.summaries, buckets.summaries, "summary_uids"],
    ] as const
  ).map(([bucket, kv, list]) => ({
    bucket,
    kv,
    list,
    corrections: new IndexCorrections(encodeKeyPrefix(["index", "past-meeting"])),
  }));
  /** Past meetings with an artifact written within the grace period: not judged. */
  const youngArtifactParents = new Set<string>();

  await checkEntities<StoredParticipant>({
    bucket: BUCKET_NAMES.participants,
    kv: buckets.participants,
    entityKey: (uid) => uid,
    isEntityKey: isDirectKey,
    indexKeys: participantIndexKeys,
    claimKeys: (p) => [participantEmailClaimKey(p.past_meeting_uid, p.email)],
    orphaned: pastMeetingGone,
  });
  for (const { bucket, kv, corrections } of artifactBuckets) {
    await checkEntities<{ uid: string; past_meeting_uid: string }>({
      bucket,
      kv,
      entityKey: (uid) => uid,
      isEntityKey: isDirectKey,
      indexKeys: artifactIndexKeys,
      claimKeys: () => [],
      orphaned: pastMeetingGone,
      seen: (artifact, young) => {
        if (young) youngArtifactParents.add(artifact.past_meeting_uid);
      },
      corrections,
    });
  }

  type ArtifactLists = Pick<
    StoredPastMeeting,
    "recording_uids" | "transcript_uids" | "summary_uids"
  >;
  const pastMeetingsPage = new Page<ArtifactLists>(async (page, number) => {
    for (const { bucket, list, corrections } of artifactBuckets) {
      const actualOf = new Map<string, Set<string>>();
      await countChildren(
        bucket,
        corrections,
        { parents: BUCKET_NAMES.pastMeetings, page: number },
        page,
        (pastMeetingUid, uid) => {
          const uids = actualOf.get(pastMeetingUid) ?? new Set<string>();
          actualOf.set(pastMeetingUid, uids.add(uid));
        },
      );
      const repairs: Promise<void>[] = [];
      for (const [uid, lists] of page) {
        const actual = actualOf.get(uid) ?? new Set<string>();
        const listed = new Set(lists[list]);
        const missing = [...actual].filter((artifact) => !listed.has(artifact));
        const dangling = [...listed].filter((artifact) => !actual.has(artifact));
        if (missing.length === 0 && dangling.length === 0) continue;
        found(
          "artifact-list",
          BUCKET_NAMES.pastMeetings,
          uid,
          `${list}: ${missing.length} missing (${missing.join(", ")}), ${dangling.length} pointing nowhere (${dangling.join(", ")})`,
        );
        if (options.repair) {
          repairs.push(
            modify<StoredPastMeeting>(buckets.pastMeetings, uid, (p) => ({
              ...p,
              // Only what was judged: an artifact added after the count stays listed.
              [list]: [
                ...p[list].filter((artifact) => !dangling.includes(artifact)),
                ...missing.filter((artifact) => !p[list].includes(artifact)),
              ],
            })),
          );
        }
      }
      await Promise.all(repairs);
    }
  });
  await checkEntities<StoredPastMeeting>({
    bucket: BUCKET_NAMES.pastMeetings,
    kv: buckets.pastMeetings,
    entityKey: (uid) => uid,
    isEntityKey: isDirectKey,
    indexKeys: pastMeetingIndexKeys,
    claimKeys: (p) =>
      p.occurrence_id === undefined
        ? []
        : [pastMeetingStartClaimKey(p.meeting_uid, p.occurrence_id)],
    // History stays: a past meeting outlives its meeting.
    orphaned: () => Promise.resolve(null),
    seen: (pastMeeting, young) => {
      if (young || youngArtifactParents.has(pastMeeting.uid)) return;
      const { recording_uids, transcript_uids, summary_uids } = pastMeeting;
      pastMeetingsPage.parents.set(pastMeeting.uid, {
        recording_uids,
        transcript_uids,
        summary_uids,
      });
    },
    page: pastMeetingsPage,
  });

  return findings;
}

/** Rewrites an entity at its current revision, again if a write raced with it. */
async function modify<T>(kv: KV, key: string, change: (value: T) => T): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const current = await read<T>(kv, key);
    if (current === null) return;
    try {
      await kv.update(key, JSON.stringify(change(current.value)), current.revision);
      return;
    } catch (err) {
      if (!(translateStoreError(err, "", key) instanceof RevisionConflict)) throw err;
    }
  }
}
