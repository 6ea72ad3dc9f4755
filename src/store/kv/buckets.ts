// The buckets this service owns, their settings, and their provisioning at start (docs/CONTRACT.md §1):
// a missing bucket is created with these settings; an existing one is bound as it is, never
// recreated, emptied or reconfigured.
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Logger } from "../../logger.js";
import type { WriteOrigin } from "./change-headers.js";

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
  /** Internal: replies of creates that carried an Idempotency-Key, kept 24 h (docs/CONTRACT.md §3). */
  idempotency: "meeting-service-idempotency",
  /** Internal: the outbox feeds' leases and checkpoints (src/outbox/feed.ts). */
  outbox: "meeting-service-outbox",
  /**
   * Internal: what each meeting last announced to its registrants and which invitation emails
   * went out (docs/CONTRACT.md §11), so a repeated change sends nothing twice (invitations/records.ts).
   */
  invitations: "meeting-service-invitations",
} as const;

export type BucketId = keyof typeof BUCKET_NAMES;

const MIB = 1024 * 1024;
const DAY_MS = 24 * 60 * 60 * 1000;

/** Largest value the service writes: under the server's default max payload (1 MiB), with room. */
export const MAX_VALUE_BYTES = MIB - 64 * 1024;

/**
 * Settings of a bucket created by this service. History 5 keeps the revision an update was based
 * on, which is how a retried update is recognised (docs/CONTRACT.md §3); values stay under the server's
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
   * they see every acknowledged write even in a cluster (docs/MEASUREMENTS.md).
   */
  leaderKv: KV;
  js: JetStreamClient;
  /** Lists read the bucket's stream through these (stream-pages.ts). */
  jsm: JetStreamManager;
  nc: NatsConnection;
  /** Whether the stream answers direct gets (lists use them where it does, stream-pages.ts). */
  allowDirect: boolean;
  /**
   * The stream has one replica: a consumer is created on the one server that holds it, so what
   * it counts includes every acknowledged write, and a list page may end where its consumer
   * does (stream-pages.ts). In a replicated bucket the stream leader decides where a page ends.
   */
  singleReplica: boolean;
  /** Who a write is made for (change-headers.ts); the request scope, injected by service.ts. */
  origin: (() => WriteOrigin | undefined) | undefined;
}

export type Buckets = Readonly<Record<BucketId, Bucket>>;

export interface OpenBucketsOptions {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  replicas: number;
  log: Logger;
  origin?: () => WriteOrigin | undefined;
}

/**
 * Creates missing buckets and binds existing ones. Nothing is loaded: lists read the streams
 * when asked (kv-repository.ts), so start-up does not grow with the data.
 */
export async function openBuckets(options: OpenBucketsOptions): Promise<Buckets> {
  const { nc, js, jsm, replicas, log } = options;
  const kvm = new Kvm(js);
  const ids = Object.keys(BUCKET_NAMES) as BucketId[];
  const buckets = await Promise.all(
    ids.map(async (id): Promise<Bucket> => {
      const name = BUCKET_NAMES[id];
      // create() binds an existing bucket without changing it, and reads its config so that
      // gets use direct get where the bucket allows it (docs/MEASUREMENTS.md).
      const directKv = await kvm.create(name, bucketSettings(id, replicas));
      const leaderKv = await kvm.open(name);
      // A replicated bucket is read through its stream leader: a direct get may be answered by a
      // replica that has not applied the latest acknowledged write, and a read that follows a
      // write (on any instance) must see it (docs/CONTRACT.md §3). One server: the faster direct get.
      const status = await directKv.status();
      const kv = status.replicas > 1 ? leaderKv : directKv;
      const allowDirect = status.streamInfo.config.allow_direct === true;
      const singleReplica = status.replicas === 1;
      log.debug({ bucket: name }, "bucket ready");
      return {
        id,
        name,
        kv,
        leaderKv,
        js,
        jsm,
        allowDirect,
        singleReplica,
        nc,
        origin: options.origin,
      };
    }),
  );
  return Object.fromEntries(buckets.map((bucket) => [bucket.id, bucket])) as Record<
    BucketId,
    Bucket
  >;
}

/**
 * Binds the buckets `ids` as they are and creates none (operator tools: check-consistency must
 * never make a bucket). Reads go to the stream leader, so a tool judges every acknowledged write.
 */
export async function bindBuckets<I extends BucketId>(
  options: Pick<OpenBucketsOptions, "nc" | "js" | "jsm">,
  ids: readonly I[],
): Promise<Readonly<Record<I, Bucket>>> {
  const { nc, js, jsm } = options;
  const kvm = new Kvm(js);
  const buckets = await Promise.all(
    ids.map(async (id): Promise<[I, Bucket]> => {
      const name = BUCKET_NAMES[id];
      const kv = await kvm.open(name);
      const status = await kv.status();
      const allowDirect = status.streamInfo.config.allow_direct === true;
      const singleReplica = status.replicas === 1;
      const bucket = { id, name, kv, leaderKv: kv, js, jsm, allowDirect, singleReplica, nc };
      return [id, { ...bucket, origin: undefined }];
    }),
  );
  return Object.fromEntries(buckets) as Record<I, Bucket>;
}
