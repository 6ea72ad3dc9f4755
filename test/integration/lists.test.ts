// Lists read a bucket's stream by subject filter (ARCHITECTURE.md "Lists"): what a page holds,
// that each item comes once however the keys were rewritten, and that cursors survive growth.
// First against a bare bucket through KvRepository, then through the service.
import { randomUUID } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { KvRepository } from "../../src/store/kv/kv-repository.js";
import { encodeKey, encodeKeyPrefix } from "../../src/store/kv/keys.js";
import { readPage } from "../../src/store/kv/paging.js";
import { PresentKeysCache } from "../../src/store/kv/present-keys-cache.js";
import { meetingInput } from "../support/builders.js";
import { useServiceHarness } from "../support/harness.js";
import { listAllPages, ok, type Page } from "../support/request.js";
import { bareBucket } from "../support/bare-bucket.js";

const harness = useServiceHarness();
let bucketNumber = 0;

async function freshBucket(): Promise<{ kv: KV; repo: KvRepository<object>; stream: string }> {
  const { bucket, kv, stream } = await bareBucket(
    harness.client,
    `lists-${++bucketNumber}`,
    "meetings",
    { history: 5 },
  );
  return { kv, repo: new KvRepository<object>(bucket), stream };
}

const indexKey = (parent: string, uid: string) => encodeKey(["index", "meeting", parent, uid]);
const ofParent = (parent: string) => encodeKeyPrefix(["index", "meeting", parent]);

/** Every key of a list under `prefix`, read through readPage with `limit` items a page. */
async function pageAll(repo: KvRepository<object>, prefix: string | undefined, limit: number) {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await readPage({
      scope: "test",
      limit,
      cursor,
      maxReplyBytes: 1 << 20,
      source: prefix === undefined ? repo.listDirect() : repo.listUnder(prefix),
      load: (key) => Promise.resolve(key),
    });
    expect(page.items.length).toBeLessThanOrEqual(limit);
    keys.push(...page.items);
    cursor = page.next_cursor ?? undefined;
  } while (cursor !== undefined);
  return keys;
}

async function allKeys(repo: KvRepository<object>, prefix: string, pageSize: number) {
  const keys: string[] = [];
  for await (const page of repo.allKeysUnder(prefix, pageSize)) keys.push(...page);
  return keys;
}

describe("a list over a bucket's stream", () => {
  test("holds the parent's index keys in the order they were written, and nothing else", async () => {
    const { kv, repo } = await freshBucket();
    await kv.put(indexKey("m1", "b"), "b");
    await kv.put(indexKey("m1", "a"), "a");
    await kv.put(indexKey("m2", "c"), "c");
    await kv.put(indexKey("m1", "gone"), "gone");
    await kv.delete(indexKey("m1", "gone"));
    await kv.put("uid1", "{}");
    await kv.put(encodeKey(["registrant", "r1"]), "{}");
    await kv.put(encodeKey(["unique", "meeting-email", "m1", "x@example.org"]), "{}");

    expect(await pageAll(repo, ofParent("m1"), 10)).toEqual([
      indexKey("m1", "b"),
      indexKey("m1", "a"),
    ]);
    expect(await pageAll(repo, undefined, 10)).toEqual(["uid1"]);
    expect(await allKeys(repo, ofParent("m1"), 1)).toEqual([
      indexKey("m1", "b"),
      indexKey("m1", "a"),
    ]);
  });

  test("lists a key written, deleted and written again once, across pages of 1", async () => {
    const { kv, repo } = await freshBucket();
    await kv.put(indexKey("m", "a"), "a");
    await kv.put(indexKey("m", "b"), "b");
    // Removed from the parent and added back (a meeting taken off a committee and put back).
    await kv.delete(indexKey("m", "a"));
    await kv.put(indexKey("m", "c"), "c");
    await kv.put(indexKey("m", "a"), "a");
    // Written again without a delete in between (a repeated index write).
    await kv.put(indexKey("m", "b"), "b");

    const expected = [indexKey("m", "c"), indexKey("m", "a"), indexKey("m", "b")];
    expect(await pageAll(repo, ofParent("m"), 1)).toEqual(expected);
    expect(await pageAll(repo, ofParent("m"), 2)).toEqual(expected);
    expect(await allKeys(repo, ofParent("m"), 1)).toEqual(expected);
  });

  test("PresentKeysCache: the keys whose latest message is a put, read on from where it stopped", async () => {
    const { kv, repo } = await freshBucket();
    const cache = new PresentKeysCache(1000);
    const present = async (parent: string) =>
      [...(await cache.presentKeys(repo, ofParent(parent))).keys].sort();
    await kv.put(indexKey("m", "a"), "a");
    await kv.put(indexKey("m", "b"), "b");
    await kv.put(indexKey("other", "x"), "x");
    await kv.delete(indexKey("m", "a"));
    expect(await present("m")).toEqual([indexKey("m", "b")]);

    // Changed after the first read: read on from where it stopped.
    await kv.put(indexKey("m", "c"), "c");
    await kv.put(indexKey("m", "a"), "a");
    await kv.put(indexKey("m", "b"), "b");
    await kv.put(indexKey("m", "d"), "d");
    await kv.purge(indexKey("m", "d"));
    await kv.put(indexKey("m", "e"), "e");
    await kv.delete(indexKey("m", "c"));
    const expected = [indexKey("m", "a"), indexKey("m", "b"), indexKey("m", "e")];
    expect(await present("m")).toEqual(expected);
    // Unchanged: the same set, without a pass; and a fresh cache agrees.
    const first = await cache.presentKeys(repo, ofParent("m"));
    expect(await cache.presentKeys(repo, ofParent("m"))).toBe(first);
    const fresh = await new PresentKeysCache(1000).presentKeys(repo, ofParent("m"));
    expect([...fresh.keys].sort()).toEqual(expected);
    expect(fresh.seq).toBe(first.seq);
    expect(await present("nobody")).toEqual([]);

    // Over its bound it forgets the least recently used prefix, and still answers exactly.
    const small = new PresentKeysCache(3);
    await small.presentKeys(repo, ofParent("m"));
    await small.presentKeys(repo, ofParent("other"));
    await kv.put(indexKey("m", "f"), "f");
    expect((await small.presentKeys(repo, ofParent("m"))).keys.size).toBe(4);
  });

  test("countUnder: a count kept as of a sequence and counted on equals a recount", async () => {
    const { repo } = await freshBucket();
    const remove = async (key: string) => {
      const revision = await repo.latestRevision(key);
      if (revision !== null) await repo.removeMarker(key, revision);
    };
    await repo.createMarker(indexKey("m", "a"), "a");
    await repo.createMarker(indexKey("m", "b"), "b");
    await repo.createMarker(indexKey("other", "x"), "x");
    const early = await repo.countUnder(ofParent("m"));
    expect(early.count).toBe(2);

    // Writes after the fold: a delete of a key counted before it, one created and deleted after
    // it, one deleted and created again, and writes that do not alternate, which are refused.
    await remove(indexKey("m", "a"));
    await repo.createMarker(indexKey("m", "c"), "c");
    await remove(indexKey("m", "c"));
    await remove(indexKey("m", "b"));
    await repo.createMarker(indexKey("m", "b"), "b");
    await expect(repo.createMarker(indexKey("m", "b"), "b")).rejects.toThrow();
    await repo.removeMarker(indexKey("m", "a"), early.seq);
    await repo.createMarker(indexKey("m", "d"), "d");

    const later = await repo.countUnder(ofParent("m"), early);
    const recount = await repo.countUnder(ofParent("m"));
    expect(later).toEqual(recount);
    expect(recount.count).toBe(2);
    // Nothing after the last message: the fold stays where it is.
    expect(await repo.countUnder(ofParent("m"), later)).toEqual(later);
    expect(await repo.countUnder(ofParent("nobody"))).toEqual({ count: 0, seq: 0 });
  });

  test("lists an entity updated several times once, at its latest revision", async () => {
    const { kv, repo } = await freshBucket();
    await kv.put("u1", "{}");
    await kv.put("u2", "{}");
    await kv.put("u1", "{}");
    await kv.put("u3", "{}");
    await kv.put("u1", "{}");
    await kv.delete("u3");
    expect(await pageAll(repo, undefined, 1)).toEqual(["u2", "u1"]);
  });

  test("pages of 1 over 50 keys return each exactly once", async () => {
    const { kv, repo } = await freshBucket();
    const written: string[] = [];
    for (let n = 0; n < 50; n++) {
      written.push(indexKey("m", `u${n}`));
      await kv.put(indexKey("m", `u${n}`), "x");
      await kv.put(indexKey("other", `u${n}`), "x");
    }
    expect(await pageAll(repo, ofParent("m"), 1)).toEqual(written);
  });

  test("sees every write acknowledged before it was asked", async () => {
    const { kv, repo } = await freshBucket();
    for (let n = 0; n < 50; n++) await kv.put(indexKey("m", `u${n}`), "x");
    await kv.delete(indexKey("m", "u7"));
    const keys = await pageAll(repo, ofParent("m"), 100);
    expect(keys).toHaveLength(49);
    expect(keys).not.toContain(indexKey("m", "u7"));
  });

  test("a purged stream lists nothing", async () => {
    const { kv, repo, stream } = await freshBucket();
    await kv.put(indexKey("m", "a"), "a");
    await kv.put(indexKey("m", "b"), "b");
    await (await jetstreamManager(harness.client)).streams.purge(stream);
    expect(await pageAll(repo, ofParent("m"), 10)).toEqual([]);
    expect(await allKeys(repo, ofParent("m"), 10)).toEqual([]);
  });
});

interface MeetingReply {
  uid: string;
  revision: number;
  project_uid: string;
}

async function createMeeting(overrides: Record<string, unknown> = {}): Promise<MeetingReply> {
  return ok<MeetingReply>(harness.client, "lfx.meetings.create", meetingInput(overrides));
}

describe("lists through the service", () => {
  test("pages of 1 over 50 meetings of a project return each exactly once", async () => {
    const project = randomUUID();
    const created: string[] = [];
    for (let n = 0; n < 50; n++) created.push((await createMeeting({ project_uid: project })).uid);
    const listed = await listAllPages<MeetingReply>(
      harness.client,
      "lfx.meetings.list",
      { project_uid: project },
      { limit: 1 },
    );
    // Creation order: a page follows the order in which the index keys were written.
    expect(listed.map((m) => m.uid)).toEqual(created);
  });

  test("a cursor survives the bucket growing in between", async () => {
    const project = randomUUID();
    const first = await Promise.all(
      Array.from({ length: 6 }, () => createMeeting({ project_uid: project })),
    );
    const page = await ok<Page<MeetingReply>>(harness.client, "lfx.meetings.list", {
      project_uid: project,
      limit: 4,
    });
    expect(page.next_cursor).not.toBeNull();
    const later = await Promise.all([
      ...Array.from({ length: 20 }, () => createMeeting()),
      ...Array.from({ length: 3 }, () => createMeeting({ project_uid: project })),
    ]);
    const rest = await listAllPages<MeetingReply>(
      harness.client,
      "lfx.meetings.list",
      { project_uid: project, cursor: page.next_cursor },
      { limit: 4 },
    );
    const seen = [...page.items, ...rest].map((m) => m.uid);
    expect(new Set(seen).size).toBe(seen.length);
    const expected = [...first, ...later.filter((m) => m.project_uid === project)];
    expect(seen.sort()).toEqual(expected.map((m) => m.uid).sort());
  });

  test("a meeting taken off a committee and put back is listed once", async () => {
    const committee = randomUUID();
    const withCommittee = { committees: [{ uid: committee, allowed_voting_statuses: [] }] };
    const moved = await createMeeting(withCommittee);
    const stays = await createMeeting(withCommittee);
    const off = await ok<MeetingReply>(harness.client, "lfx.meetings.update", {
      uid: moved.uid,
      revision: moved.revision,
      committees: [],
    });
    await ok(harness.client, "lfx.meetings.update", {
      uid: moved.uid,
      revision: off.revision,
      ...withCommittee,
    });
    const listed = await listAllPages<MeetingReply>(
      harness.client,
      "lfx.meetings.list",
      { committee_uid: committee },
      { limit: 1 },
    );
    expect(listed.map((m) => m.uid)).toEqual([stays.uid, moved.uid]);
  });

  test("every meeting, updated or not, is listed once", async () => {
    const meeting = await createMeeting();
    const other = await createMeeting();
    await ok(harness.client, "lfx.meetings.update", {
      uid: meeting.uid,
      revision: meeting.revision,
      title: "again",
    });
    const listed = await listAllPages<MeetingReply>(
      harness.client,
      "lfx.meetings.list",
      {},
      { limit: 1 },
    );
    const uids = listed.map((m) => m.uid);
    expect(new Set(uids).size).toBe(uids.length);
    expect(uids).toEqual(expect.arrayContaining([meeting.uid, other.uid]));
  });
});
