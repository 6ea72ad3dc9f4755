// Changes that many concurrent requests make to one entity (a meeting's registrant_count, a past
// meeting's recording_uids), kept exact under concurrency. Changes for the same key are queued
// while a write is under way and applied together with one read and one revision-checked update
// (group commit), retried on conflict: with many concurrent requests for one entity, each
// instance makes a few writes instead of one per request, and no change is lost.
import { unavailable } from "../../errors.js";
import { RevisionConflict, type KvRepository, type Versioned } from "./kv-repository.js";

interface Waiter<S> {
  resolve: (result: Versioned<S> | null) => void;
  reject: (err: unknown) => void;
}

interface Batch<S, C> {
  changes: C[];
  waiters: Waiter<S>[];
}

export interface GroupCommitOptions<S extends object, C> {
  repo: KvRepository<S>;
  /**
   * The entity with every change of a batch applied, in order; the value itself (the same
   * object) when there is nothing to write.
   */
  apply: (value: S, changes: readonly C[]) => S | Promise<S>;
  maxAttempts?: number;
}

export class GroupCommit<S extends object, C> {
  private readonly queued = new Map<string, Batch<S, C>>();
  private readonly running = new Set<string>();

  constructor(private readonly options: GroupCommitOptions<S, C>) {}

  /** Applies `change`; resolves with the entity as written, or null when the entity is gone. */
  add(key: string, change: C): Promise<Versioned<S> | null> {
    return new Promise((resolve, reject) => {
      const batch = this.queued.get(key) ?? { changes: [], waiters: [] };
      batch.changes.push(change);
      batch.waiters.push({ resolve, reject });
      this.queued.set(key, batch);
      if (!this.running.has(key)) void this.drain(key);
    });
  }

  private async drain(key: string): Promise<void> {
    this.running.add(key);
    try {
      for (let batch = this.queued.get(key); batch !== undefined; batch = this.queued.get(key)) {
        this.queued.delete(key);
        try {
          const result = await this.write(key, batch.changes);
          batch.waiters.forEach((w) => w.resolve(result));
        } catch (err) {
          batch.waiters.forEach((w) => w.reject(err));
        }
      }
    } finally {
      this.running.delete(key);
    }
  }

  private async write(key: string, changes: readonly C[]): Promise<Versioned<S> | null> {
    const { repo, apply, maxAttempts = 50 } = this.options;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      // After a conflict, the stream leader's value: in a cluster a direct get may be answered by
      // a replica that is behind, and would conflict again on every attempt until they ran out,
      // losing the batch's changes (docs/MEASUREMENTS.md).
      const current = attempt === 1 ? await repo.get(key) : await repo.getLatest(key);
      if (current === null) return null;
      const next = await apply(current.value, changes);
      if (next === current.value) return current;
      try {
        const revision = await repo.update(key, next, current.revision);
        return { value: next, revision };
      } catch (err) {
        if (!(err instanceof RevisionConflict)) throw err;
        // Another instance (or a client's update) won: back off a little, with jitter.
        const delayMs = Math.random() * Math.min(50, attempt * 5);
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
    }
    throw unavailable(`${key} is too contended; retry`);
  }
}
