// The in-process key index (src/store/key-index.ts) against a real server: what it keeps, that a
// sync sees every acknowledged write, and that it completes when the stream's newest messages
// are gone.
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { createLogger } from "../../src/logger.js";
import { KeyIndex } from "../../src/store/key-index.js";
import { encodeKey, encodeKeyPrefix } from "../../src/store/keys.js";
import { startNatsServer, type NatsServerHandle } from "../support/nats-server.js";
import { connectClient } from "../support/service.js";

let server: NatsServerHandle;
let nc: NatsConnection;
let jsm: JetStreamManager;
let bucketNumber = 0;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connectClient(server.url);
  jsm = await jetstreamManager(nc);
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

const indexes: KeyIndex[] = [];
afterEach(async () => {
  await Promise.all(indexes.splice(0).map((index) => index.stop()));
});

async function freshBucket(): Promise<{ kv: KV; bucket: string }> {
  const bucket = `key-index-${++bucketNumber}`;
  return { kv: await new Kvm(nc).create(bucket, { history: 5 }), bucket };
}

async function startIndex(bucket: string): Promise<KeyIndex> {
  const index = await KeyIndex.start(
    { js: jetstream(nc), jsm, bucket, log: createLogger("silent"), syncTimeoutMs: 2000 },
    10_000,
  );
  indexes.push(index);
  return index;
}

const indexKey = (parent: string, uid: string) => encodeKey(["index", "meeting", parent, uid]);
const ofParent = (parent: string) => encodeKeyPrefix(["index", "meeting", parent]);

test("loads index keys and uids present at start, and neither entity keys nor claims", async () => {
  const { kv, bucket } = await freshBucket();
  await kv.put(indexKey("m1", "b"), "b");
  await kv.put(indexKey("m1", "a"), "a");
  await kv.put(indexKey("m2", "c"), "c");
  await kv.put(indexKey("m1", "gone"), "gone");
  await kv.delete(indexKey("m1", "gone"));
  await kv.put("uid1", "{}");
  await kv.put(encodeKey(["registrant", "r1"]), "{}");
  await kv.put(encodeKey(["unique", "meeting-email", "m1", "x@example.org"]), "{}");

  const index = await startIndex(bucket);

  expect(index.range(ofParent("m1"), undefined, 10)).toEqual([
    indexKey("m1", "a"),
    indexKey("m1", "b"),
  ]);
  expect(index.range(ofParent("m1"), indexKey("m1", "a"), 10)).toEqual([indexKey("m1", "b")]);
  expect(index.directRange(undefined, 10)).toEqual(["uid1"]);
  expect(index.has(encodeKey(["registrant", "r1"]))).toBe(false);
  expect(index.size).toBe(4);
});

test("after sync() it holds every write acknowledged before the call", async () => {
  const { kv, bucket } = await freshBucket();
  const index = await startIndex(bucket);
  for (let n = 0; n < 50; n++) await kv.put(indexKey("m", `u${n}`), "x");
  await kv.delete(indexKey("m", "u7"));
  await index.sync();
  const keys = index.range(ofParent("m"), undefined, 100);
  expect(keys).toHaveLength(49);
  expect(keys).not.toContain(indexKey("m", "u7"));
});

test("sync() completes when the newest messages of the stream are gone (a purged stream)", async () => {
  const { kv, bucket } = await freshBucket();
  const index = await startIndex(bucket);
  await index.stop();
  indexes.pop();
  // Written while no feed runs, then purged: the sequences exist, the messages do not.
  await kv.put(indexKey("m", "a"), "a");
  await kv.put(indexKey("m", "b"), "b");
  await jsm.streams.purge(`KV_${bucket}`);
  const reloaded = await startIndex(bucket);
  await expect(reloaded.sync()).resolves.toBeUndefined();
  expect(reloaded.range(ofParent("m"), undefined, 10)).toEqual([]);
});
