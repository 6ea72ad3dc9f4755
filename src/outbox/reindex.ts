// `npm run reindex` (docs/CONTRACT.md §1, §9): the platform's recovery path when the indexer or
// fga-sync lost something. Sends the search-index and access-control messages of the current state
// of every entity again, built exactly as the feeds build them (platform-feeds.ts), as `updated`
// (the indexer upserts). It reads each bucket through an ordered consumer that delivers the last
// message of every entity key, a bounded batch at a time, so its memory does not grow with the
// buckets. No events: nothing changed.
import {
  DeliverPolicy,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
} from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Logger } from "../logger.js";
import { BUCKET_NAMES, type Bucket, type BucketId, type Buckets } from "../store/kv/buckets.js";
import type { EntityChange } from "./change.js";
import { fgaSyncSender, indexAndEventSender } from "./platform-feeds.js";
import { kindOf } from "./platform-messages.js";
import { ENTITY_BUCKETS, entitySource, type EntityBucketId } from "./sources.js";

/** Entities read from the server at a time. */
const BATCH = 256;
/** Buckets whose changes have access-control messages (docs/PLATFORM.md §2). */
const WITH_ACCESS: ReadonlySet<EntityBucketId> = new Set([
  "meetings",
  "meetingSettings",
  "registrants",
  "pastMeetings",
  "participants",
]);

export interface ReindexProgress {
  resource: string;
  done: number;
  total: number;
}

export interface ReindexOptions {
  nc: NatsConnection;
  js: JetStreamClient;
  /** Resources as in the subjects (`meetings`, `registrants`...); all when empty. */
  resources: readonly string[];
  serviceToken: string;
  log: Logger;
  onProgress?: (progress: ReindexProgress) => void;
}

/** The entity buckets named by resources, or a RangeError naming the unknown ones. */
export function bucketsOfResources(resources: readonly string[]): EntityBucketId[] {
  if (resources.length === 0) return [...ENTITY_BUCKETS];
  const byResource = new Map(
    ENTITY_BUCKETS.map((id) => [kindOf(BUCKET_NAMES[id]).resource, id] as const),
  );
  const unknown = resources.filter((resource) => !byResource.has(resource));
  if (unknown.length > 0) {
    throw new RangeError(
      `unknown resource ${unknown.join(", ")}; one of ${[...byResource.keys()].join(", ")}`,
    );
  }
  return ENTITY_BUCKETS.filter((id) => resources.includes(kindOf(BUCKET_NAMES[id]).resource));
}

/** Sends every entity's messages again; resolves with how many entities it sent. */
export async function reindex(options: ReindexOptions): Promise<number> {
  const { nc, js, log } = options;
  const ids = bucketsOfResources(options.resources);
  const buckets = await bindBuckets(nc, js, await jetstreamManager(nc));
  const sendIndex = indexAndEventSender(
    { nc, buckets, serviceToken: options.serviceToken, log },
    false,
  );
  const sendAccess = fgaSyncSender({ js, buckets }, false);
  let sent = 0;
  for (const id of ids) {
    const source = entitySource(buckets[id]);
    const resource = kindOf(source.bucket.name).resource;
    const consumer = await js.consumers.get(`KV_${source.bucket.name}`, {
      filter_subjects: source.filter,
      deliver_policy: DeliverPolicy.LastPerSubject,
    });
    const total = (await consumer.info()).num_pending;
    let done = 0;
    options.onProgress?.({ resource, done, total });
    const prefix = `$KV.${source.bucket.name}.`;
    while (done < total) {
      const batch = await consumer.fetch({ max_messages: Math.min(BATCH, total - done) });
      let received = 0;
      for await (const msg of batch) {
        received += 1;
        done += 1;
        const operation = msg.headers?.get("KV-Operation");
        if (operation === "DEL" || operation === "PURGE") continue;
        const change: EntityChange = {
          bucket: source.bucket.name,
          uid: source.uidOf(msg.subject.slice(prefix.length)),
          revision: msg.seq,
          action: "updated",
          value: msg.json<Record<string, unknown>>(),
          origin: {},
          at: new Date(Math.floor(msg.info.timestampNanos / 1e6)),
        };
        await sendIndex(change);
        if (WITH_ACCESS.has(id)) await sendAccess(change);
        sent += 1;
        if (msg.info.pending === 0) done = total;
      }
      // Keys deleted or purged since the count was taken are never delivered.
      if (received === 0 && (await consumer.info()).num_pending === 0) done = total;
      options.onProgress?.({ resource, done, total });
    }
    await nc.flush();
  }
  return sent;
}

/** The buckets as they are, bound without creating anything. */
async function bindBuckets(
  nc: NatsConnection,
  js: JetStreamClient,
  jsm: JetStreamManager,
): Promise<Buckets> {
  const kvm = new Kvm(js);
  const entries = await Promise.all(
    (Object.keys(BUCKET_NAMES) as BucketId[]).map(async (id): Promise<[BucketId, Bucket]> => {
      const kv = await kvm.open(BUCKET_NAMES[id]);
      return [
        id,
        {
          id,
          name: BUCKET_NAMES[id],
          kv,
          leaderKv: kv,
          js,
          jsm,
          // Reindex lists nothing.
          allowDirect: false,
          singleReplica: false,
          nc,
          origin: undefined,
        },
      ];
    }),
  );
  return Object.fromEntries(entries) as Record<BucketId, Bucket>;
}
