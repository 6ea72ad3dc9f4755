// In a cluster a direct get may be answered by a replica that has not applied the latest write
// (docs/MEASUREMENTS.md "Binding a bucket: kvm.create vs kvm.open"). Where that would be judged on
// (an update naming a newer revision), the read goes to the stream leader instead.
import { planUpdate } from "../../src/handlers/entity-writes.js";
import type { KvRepository, Versioned } from "../../src/store/kv/kv-repository.js";

interface Thing {
  uid: string;
  title: string;
  updated_at: string;
}

const v1: Thing = { uid: "a", title: "one", updated_at: "2030-01-01T00:00:00Z" };
const v2: Thing = { uid: "a", title: "two", updated_at: "2030-01-02T00:00:00Z" };

/** A repository whose direct reads lag one write behind the leader's. */
function laggingRepo(direct: Versioned<Thing> | null, leader: Versioned<Thing> | null) {
  let leaderReads = 0;
  const repo = {
    get: () => Promise.resolve(direct),
    getLatest: () => {
      leaderReads += 1;
      return Promise.resolve(leader);
    },
    getAt: () => Promise.resolve(null),
  } as unknown as KvRepository<Thing>;
  return { repo, leaderReads: () => leaderReads };
}

const update = (repo: KvRepository<Thing>, revision: number) =>
  planUpdate({
    repo,
    key: "a",
    entity: "thing",
    uid: "a",
    revision,
    patch: { title: "three" },
    now: new Date("2030-01-03T00:00:00Z"),
  });

describe("an update whose read is behind the client's revision", () => {
  it("is planned on the leader's value, not judged stale", async () => {
    const { repo, leaderReads } = laggingRepo(
      { value: v1, revision: 1 },
      { value: v2, revision: 2 },
    );
    const plan = await update(repo, 2);
    expect(plan.current.revision).toBe(2);
    expect(plan.next?.title).toBe("three");
    expect(leaderReads()).toBe(1);
  });

  it("of an entity the replica has not seen yet is not a 404", async () => {
    const { repo } = laggingRepo(null, { value: v1, revision: 1 });
    const plan = await update(repo, 1);
    expect(plan.next?.title).toBe("three");
  });

  it("reads the leader only when the direct read is behind", async () => {
    const { repo, leaderReads } = laggingRepo(
      { value: v2, revision: 2 },
      { value: v2, revision: 2 },
    );
    await update(repo, 2);
    expect(leaderReads()).toBe(0);
  });

  it("is still a 409 when the client's revision is really stale", async () => {
    const { repo } = laggingRepo({ value: v2, revision: 2 }, { value: v2, revision: 2 });
    await expect(update(repo, 1)).rejects.toMatchObject({ code: "conflict" });
  });
});
