// Writes that race with their own retries or with later writes of the same keys (store/):
// - a retried create that reuses its uid (Idempotency-Key after the lease, or a lookup that missed
//   the first attempt's entity on a replica that was behind) and finds its entity stored: that is
//   the first attempt's success; nothing that carries the uid is undone (index keys, the email
//   claim), and the retry answers the stored entity instead of a 409;
// - the delayed "remove the old key" step of an update never removes a key (index key, claim)
//   that a later update has put again.
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { AppError } from "../../src/errors.js";
import { IdempotentCreates, type IdempotencyRecord } from "../../src/rpc/idempotency.js";
import type { Bucket, BucketId } from "../../src/store/kv/buckets.js";
import { Claims } from "../../src/store/kv/claims.js";
import { IndexedRepository } from "../../src/store/kv/indexed-repository.js";
import { AlreadyCreated, KvRepository } from "../../src/store/kv/kv-repository.js";
import {
  registrantEmailClaimKey,
  registrantIndexKeys,
  RegistrantsRepository,
  type StoredRegistrant,
} from "../../src/store/resources/registrants.js";
import { startNatsServer, type NatsServerHandle } from "../support/nats-server.js";
import { connectClient } from "../support/service.js";
import { bareBucket } from "../support/bare-bucket.js";

let server: NatsServerHandle;
let nc: NatsConnection;
let bucketNumber = 0;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connectClient(server.url);
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

async function freshBucket(id: BucketId): Promise<{ bucket: Bucket; kv: KV }> {
  const { bucket, kv } = await bareBucket(nc, `write-races-${++bucketNumber}`, id);
  return { bucket, kv };
}

const registrant: StoredRegistrant = {
  uid: "reg1",
  meeting_uid: "meeting1",
  email: "ada@example.org",
  type: "direct",
  created_at: "2026-01-01T00:00:00Z",
  updated_at: "2026-01-01T00:00:00Z",
};

it("a second create under the same uid is AlreadyCreated and keeps the index keys and claim", async () => {
  const { bucket, kv } = await freshBucket("registrants");
  const registrants = new RegistrantsRepository(bucket);
  const claims = new Claims(new KvRepository(bucket), () => new Date(), 30_000);
  const claimKey = registrantEmailClaimKey(registrant.meeting_uid, registrant.email);
  const guard = { exists: () => Promise.resolve(true), taken: () => new Error("taken") };

  await claims.claimUnique(claimKey, registrant.uid, guard);
  await registrants.createIndexed(registrant);
  // The retry: same uid, same claim (held by that uid), same create.
  await claims.claimUnique(claimKey, registrant.uid, guard);
  const retry = registrants.createIndexed(registrant);
  await expect(retry).rejects.toBeInstanceOf(AlreadyCreated);
  await claims.releaseAfterFailure(claimKey, registrant.uid, await retry.catch((e: unknown) => e));

  for (const key of registrantIndexKeys(registrant)) {
    expect((await kv.get(key))?.operation).toBe("PUT");
  }
  const claim = await kv.get(claimKey);
  expect(claim?.operation).toBe("PUT");
  expect(claim?.json<{ uid: string }>().uid).toBe(registrant.uid);
});

it("an idempotent create whose run finds its entity stored answers that entity", async () => {
  const { bucket } = await freshBucket("idempotency");
  const creates = new IdempotentCreates({
    records: new KvRepository<IdempotencyRecord>(bucket),
    now: () => Date.now(),
    leaseMs: 10_000,
    waitMs: 1000,
    pollMs: 10,
  });
  const stored = { uid: "u1", revision: 7 };
  const reply = await creates.execute({
    subject: "lfx.registrants.create",
    key: "k1",
    body: { email: "ada@example.org" },
    freshUid: "u1",
    run: (uid) => Promise.reject(new AlreadyCreated("b", uid, undefined)),
    findCreated: (uid) => Promise.resolve(uid === "u1" ? stored : null),
  });
  expect(reply).toEqual(stored);

  // The record is complete: a further retry gets the same reply without running anything.
  const again = await creates.execute({
    subject: "lfx.registrants.create",
    key: "k1",
    body: { email: "ada@example.org" },
    freshUid: "u2",
    run: () => Promise.reject(new AppError("internal", "must not run")),
    findCreated: () => Promise.resolve(null),
  });
  expect(again).toEqual(stored);
});

describe("a late removal of an old key never takes away what a later write put again", () => {
  interface Doc {
    uid: string;
    answer: string;
  }
  const answerKey = (doc: Doc) => `index.answer.${doc.uid}.${doc.answer}`;

  it("an index key dropped by an update and put again by the next one stays", async () => {
    const { bucket, kv } = await freshBucket("rsvps");
    let afterEntityWrite: (() => Promise<void>) | undefined;
    // The first update is held between its entity write and its removal of the old key, while
    // the next update (the answer flipped back) puts that key again.
    class HeldRepository extends IndexedRepository<Doc> {
      override async update(key: string, value: Doc, revision: number): Promise<number> {
        const written = await super.update(key, value, revision);
        const hook = afterEntityWrite;
        afterEntityWrite = undefined;
        await hook?.();
        return written;
      }
    }
    const docs = new HeldRepository(bucket, {
      keyOf: (uid) => uid,
      indexKeysOf: (doc) => [answerKey(doc)],
    });
    const accepted = { uid: "r1", answer: "accepted" };
    const declined = { uid: "r1", answer: "declined" };
    const created = await docs.createIndexed(accepted);
    afterEntityWrite = async () => {
      const current = (await docs.getLatest("r1"))!;
      await docs.replaceIndexed(current.value, accepted, current.revision);
    };
    await docs.replaceIndexed(accepted, declined, created);

    expect((await docs.getLatest("r1"))?.value).toEqual(accepted);
    expect((await kv.get(answerKey(accepted)))?.operation).toBe("PUT");
    expect((await kv.get(answerKey(declined)))?.operation).not.toBe("PUT");
  });

  it("an email changed a -> b -> a keeps its claim on a", async () => {
    const { bucket, kv } = await freshBucket("registrants");
    const claims = new Claims(new KvRepository(bucket), () => new Date(), 30_000);
    const guard = { exists: () => Promise.resolve(true), taken: () => new Error("taken") };
    await claims.claimUnique("unique.a", "r1", guard);
    await claims.moveClaim({
      uid: "r1",
      from: "unique.a",
      to: "unique.b",
      guard,
      // The entity now says b; before this move releases a, the next update moves it back.
      write: () =>
        claims.moveClaim({
          uid: "r1",
          from: "unique.b",
          to: "unique.a",
          guard,
          write: () => Promise.resolve(),
        }),
    });
    const claim = await kv.get("unique.a");
    expect(claim?.operation).toBe("PUT");
    expect(claim?.json<{ uid: string }>().uid).toBe("r1");
  });
});
