// Exact counters kept inside an entity (e.g. a meeting's registrant_count) under concurrency.
// Deltas for the same key are merged while a write is under way and applied together with one
// read and one revision-checked update (group commit), retried on conflict: with many concurrent
// registrations for one meeting, each instance makes a few writes instead of one per request.
import { unavailable } from "../errors.js";
import { RevisionConflict, type KvRepository, type Versioned } from "./kv-repository.js";

interface Pending {
  delta: number;
  waiters: {
    resolve: (result: Versioned<unknown> | null) => void;
    reject: (err: unknown) => void;
  }[];
}

export interface CounterOptions<S extends object> {
  repo: KvRepository<S>;
  /** The entity with `delta` added to its counter. */
  apply: (value: S, delta: number) => S;
  /** Called after each committed write (events). */
  onCommitted?: (key: string, value: S, revision: number) => void;
  maxAttempts?: number;
}

export class Counter<S extends object> {
  private readonly pending = new Map<string, Pending>();
  private readonly running = new Set<string>();

  constructor(private readonly options: CounterOptions<S>) {}

  /** Adds `delta`; resolves with the entity as written, or null when the entity is gone. */
  add(key: string, delta: number): Promise<Versioned<S> | null> {
    return new Promise((resolve, reject) => {
      const entry = this.pending.get(key) ?? { delta: 0, waiters: [] };
      entry.delta += delta;
      entry.waiters.push({ resolve: resolve as Pending["waiters"][number]["resolve"], reject });
      this.pending.set(key, entry);
      if (!this.running.has(key)) void this.drain(key);
    });
  }

  private async drain(key: string): Promise<void> {
    this.running.add(key);
    try {
      for (let batch = this.pending.get(key); batch !== undefined; batch = this.pending.get(key)) {
        this.pending.delete(key);
        try {
          const result =
            batch.delta === 0
              ? await this.options.repo.get(key)
              : await this.write(key, batch.delta);
          batch.waiters.forEach((w) => w.resolve(result));
        } catch (err) {
          batch.waiters.forEach((w) => w.reject(err));
        }
      }
    } finally {
      this.running.delete(key);
    }
  }

  private async write(key: string, delta: number): Promise<Versioned<S> | null> {
    const { repo, apply, onCommitted, maxAttempts = 50 } = this.options;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const current = await repo.get(key);
      if (current === null) return null;
      const next = apply(current.value, delta);
      try {
        const revision = await repo.update(key, next, current.revision);
        onCommitted?.(key, next, revision);
        return { value: next, revision };
      } catch (err) {
        if (!(err instanceof RevisionConflict)) throw err;
        // Another instance (or a client update) won: back off a little, with jitter.
        await new Promise((resolve) =>
          setTimeout(resolve, Math.random() * Math.min(50, attempt * 5)),
        );
      }
    }
    throw unavailable(`counter of ${key} is too contended; retry`);
  }
}
