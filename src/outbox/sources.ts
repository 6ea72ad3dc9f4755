// Where the entities of each bucket are in its stream (docs/CONTRACT.md §6): a subject filter that
// matches entity keys and nothing else (no index keys, no claims), and how a key names its uid.
import type { Bucket, BucketId, Buckets } from "../store/kv/buckets.js";
import { decodeKey, encodeKeyPrefix } from "../store/kv/keys.js";
import type { FeedSource } from "./feed.js";

/** Every bucket that holds entities, in the order a reindex walks them (parents first). */
export const ENTITY_BUCKETS = [
  "meetings",
  "meetingSettings",
  "registrants",
  "rsvps",
  "pastMeetings",
  "participants",
  "recordings",
  "transcripts",
  "summaries",
] as const satisfies readonly BucketId[];

export type EntityBucketId = (typeof ENTITY_BUCKETS)[number];

/** Registrants are `registrant/{uid}`, encoded; every other entity is its uid (one token). */
const REGISTRANT_PREFIX = encodeKeyPrefix(["registrant"]);

/** The subject filter of a bucket's entity keys. */
export function entityFilter(bucket: Pick<Bucket, "id" | "name">): string {
  const subjects = `$KV.${bucket.name}.`;
  // Index keys and claims have several tokens; `*` matches single-token keys: the uids.
  return bucket.id === "registrants" ? `${subjects}${REGISTRANT_PREFIX}*` : `${subjects}*`;
}

export function entitySource(bucket: Bucket): FeedSource {
  const filter = entityFilter(bucket);
  if (bucket.id === "registrants") {
    return { bucket, filter, uidOf: (key) => decodeKey(key)[1] ?? key };
  }
  return { bucket, filter, uidOf: (key) => key };
}

export function entitySources(buckets: Buckets, ids: readonly EntityBucketId[]): FeedSource[] {
  return ids.map((id) => entitySource(buckets[id]));
}
