// The keys under a prefix that exist, remembered with the stream sequence they were read up to,
// so that a read of the same prefix costs one get when nothing under it changed since, and the
// messages written since when something did, not a pass over every key. For a meeting's counts
// (handlers/meeting-view.ts): a meeting of 30,000 registrants and 10,000 answers otherwise reads
// 40,000 messages on every meetings.get (docs/ARCHITECTURE.md "A meeting's counts").
//
// Only a cache: what it returns is exact whatever it holds (a replay from the sequence it holds
// is the same set as a replay from the start), so instances stay stateless and any instance
// answers the same. Memory is bounded by `maxKeys` over all prefixes, least recently used first.
import type { KvRepository } from "./kv-repository.js";

/** The keys under a prefix as of a stream sequence: the same sequence means the same keys. */
export interface PresentKeys {
  keys: ReadonlySet<string>;
  seq: number;
}

export class PresentKeysCache {
  private readonly remembered = new Map<string, PresentKeys>();
  /** Replays under way, by prefix: concurrent reads of one prefix share one. */
  private readonly replaying = new Map<string, Promise<PresentKeys>>();
  private size = 0;

  constructor(private readonly maxKeys: number) {}

  /**
   * The keys under `prefix` in `repo` that exist now, and the sequence they were read up to. The
   * set is the cache's: use it before the next await, do not keep or change it.
   */
  async presentKeys(repo: KvRepository<object>, prefix: string): Promise<PresentKeys> {
    const id = `${repo.bucket.name}|${prefix}`;
    const known = this.remembered.get(id);
    // The leader's last message: a replica that is behind would hide an acknowledged write.
    if (known !== undefined && (await repo.lastSeqUnder(prefix, { latest: true })) <= known.seq) {
      this.touch(id, known);
      return known;
    }
    let replay = this.replaying.get(id);
    if (replay === undefined) {
      replay = this.replay(repo, prefix, known).finally(() => this.replaying.delete(id));
      this.replaying.set(id, replay);
    }
    const replayed = await replay;
    this.remember(id, replayed);
    return replayed;
  }

  /** A new set: the one handed out before may still be in use by a reader. */
  private async replay(
    repo: KvRepository<object>,
    prefix: string,
    from: PresentKeys | undefined,
  ): Promise<PresentKeys> {
    const keys = new Set(from?.keys);
    const seq = await repo.replayUnder(prefix, keys, from?.seq ?? 0);
    return { keys, seq };
  }

  private touch(id: string, entry: PresentKeys): void {
    this.remembered.delete(id);
    this.remembered.set(id, entry);
  }

  private remember(id: string, entry: PresentKeys): void {
    const before = this.remembered.get(id);
    if (before !== undefined && before.seq > entry.seq) return;
    if (before !== undefined) this.size -= before.keys.size;
    this.remembered.delete(id);
    if (entry.keys.size > this.maxKeys) return;
    this.remembered.set(id, entry);
    this.size += entry.keys.size;
    for (const [oldest, { keys }] of this.remembered) {
      if (this.size <= this.maxKeys) break;
      this.remembered.delete(oldest);
      this.size -= keys.size;
    }
  }
}
