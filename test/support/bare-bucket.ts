// A bucket of the test's own, bound the way the service binds one on a single server (direct
// gets, the same handle for leader reads), for tests and benchmarks that drive the store's
// repositories without the service.
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm, type KV, type KvOptions } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Bucket, BucketId } from "../../src/store/kv/buckets.js";

export interface BareBucket {
  bucket: Bucket;
  kv: KV;
  /** The bucket's stream, `KV_<name>`. */
  stream: string;
}

export async function bareBucket(
  nc: NatsConnection,
  name: string,
  id: BucketId = "meetings",
  options: Partial<KvOptions> = {},
): Promise<BareBucket> {
  const kv = await new Kvm(nc).create(name, options);
  const bucket: Bucket = {
    id,
    name,
    kv,
    leaderKv: kv,
    js: jetstream(nc),
    jsm: await jetstreamManager(nc),
    allowDirect: true,
    singleReplica: true,
    nc,
    origin: undefined,
  };
  return { bucket, kv, stream: `KV_${name}` };
}
