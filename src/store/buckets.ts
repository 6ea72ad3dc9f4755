// The buckets this service owns, their settings, and their provisioning at start (CONTRACT §1):
// a missing bucket is created with these settings; an existing one is bound as it is, never
// recreated, emptied or reconfigured.
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { Logger } from "../logger.js";
import type { WriteOrigin } from "./change-headers.js";
import { KeyIndex } from "./key-index.js";

export const BUCKET_NAMES = {
  meetings: "meetings",
  meetingSettings: "meeting-settings",
  registrants: "meeting-registrants",
  rsvps: "meeting-rsvps",
  pastMeetings: "past-meetings",
  participants: "past-meeting-participants",
  recordings: "past-meeting-recordings",
  transcripts: "past-meeting-transcripts",
  summaries: "past-meeting-summaries",
  /** Internal: replies of creates that carried an Idempotency-Key, kept 24 h (CONTRACT §3). */
  idempotency: "meeting-service-idempotency",
  /** Internal: the outbox feeds' leases and checkpoints (src/outbox/feed.ts). */
  outbox: "meeting-service-outbox",
  /**
   * Internal: what each meeting last announced to its registrants and which invitation emails
   * went out (CONTRACT §11), so a repeated change sends nothing twice (invitations/records.ts).
   */
  invitations: "meeting-service-invitations",
} as const;

export type BucketId = keyof typeof BUCKET_NAMES;

/** Buckets with lists, which keep an in-process key index (see key-index.ts). */
const INDEXED: ReadonlySet<BucketId> = new Set<BucketId>([
  "meetings",
  "registrants",
  "rsvps",
  "pastMeetings",
  "participants",
  "recordings",
  "transcripts",
  "summaries",
]);

const MIB = 1024 * 1024;
/** How long one key index may take to load at start: seconds for a bucket of 100,000s of keys. */
const KEY_INDEX_LOAD_TIMEOUT_MS = 60_000;
const DAY_MS = 24 * 60 * 60 * 1000;

/** Largest value the service writes: under the server's default max payload (1 MiB), with room. */
export const MAX_VALUE_BYTES = MIB - 64 * 1024;

/**
 * Settings of a bucket created by this service. History 5 keeps the revision an update was based
 * on, which is how a retried update is recognised (CONTRACT §3); values stay under the server's
 * default max payload.
 */
export function bucketSettings(id: BucketId, replicas: number) {
  return {
    description: `lfx-meeting-service: ${BUCKET_NAMES[id]}`,
    replicas,
    history: id === "idempotency" || id === "outbox" || id === "invitations" ? 1 : 5,
    maxValueSize: MAX_VALUE_BYTES,
    ...(id === "idempotency" ? { ttl: DAY_MS } : {}),
  };
}

export interface Bucket {
  id: BucketId;
  name: string;
  /** Reads and writes: the stream leader in a replicated bucket, else direct get. */
  kv: KV;
  /**
   * The same bucket bound without direct get: its reads are answered by the stream leader, so
   * they see every acknowledged write even in a cluster (FACTS.md).
   */
  leaderKv: KV;
  js: JetStreamClient;
  keyIndex: KeyIndex | undefined;
  /** Who a write is made for (change-headers.ts); the request scope, injected by service.ts. */
  origin: (() => WriteOrigin | undefined) | undefined;
}

export type Buckets = Readonly<Record<BucketId, Bucket>>;

export interface OpenBucketsOptions {
  js: JetStreamClient;
  /**
   * For the key indexes' feeds only: creating a consumer that starts with the last message of
   * every key walks the whole stream on nats-server 2.9, seconds on a large bucket, far beyond
   * the deadline of a request's KV call.
   */
  feedJs: JetStreamClient;
  jsm: JetStreamManager;
  replicas: number;
  log: Logger;
  kvTimeoutMs: number;
  origin?: () => WriteOrigin | undefined;
}

/**
 * Creates missing buckets, binds existing ones, and then loads the key indexes one after another:
 * loaded together against large buckets they asked the server for every key at once, and the
 * server cut the connection as a slow consumer (bench/, ~430,000 keys).
 */
export async function openBuckets(options: OpenBucketsOptions): Promise<Buckets> {
  const { js, feedJs, jsm, replicas, log } = options;
  const kvm = new Kvm(js);
  const ids = Object.keys(BUCKET_NAMES) as BucketId[];
  const bound = await Promise.all(
    ids.map(async (id) => {
      const name = BUCKET_NAMES[id];
      // create() binds an existing bucket without changing it, and reads its config so that
      // gets use direct get where the bucket allows it (FACTS.md).
      const directKv = await kvm.create(name, bucketSettings(id, replicas));
      const leaderKv = await kvm.open(name);
      // A replicated bucket is read through its stream leader: a direct get may be answered by a
      // replica that has not applied the latest acknowledged write, and a read that follows a
      // write (on any instance) must see it (CONTRACT §3). One server: the faster direct get.
      const kv = (await directKv.status()).replicas > 1 ? leaderKv : directKv;
      return { id, name, kv, leaderKv, js, origin: options.origin };
    }),
  );
  const buckets: Bucket[] = [];
  try {
    for (const bucket of bound) {
      const keyIndex = INDEXED.has(bucket.id)
        ? await KeyIndex.start(
            { js: feedJs, jsm, bucket: bucket.name, log, syncTimeoutMs: options.kvTimeoutMs },
            KEY_INDEX_LOAD_TIMEOUT_MS,
          )
        : undefined;
      log.debug({ bucket: bucket.name, keys: keyIndex?.size }, "bucket ready");
      buckets.push({ ...bucket, keyIndex });
    }
  } catch (err) {
    // Nothing left running for a start that will be retried (service.ts) or abandoned.
    await Promise.all(buckets.map(async (bucket) => bucket.keyIndex?.stop()));
    throw err;
  }
  return Object.fromEntries(buckets.map((bucket) => [bucket.id, bucket])) as Record<
    BucketId,
    Bucket
  >;
}

export async function closeBuckets(buckets: Buckets): Promise<void> {
  await Promise.all(Object.values(buckets).map(async (bucket) => bucket.keyIndex?.stop()));
}
