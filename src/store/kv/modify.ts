// Read-modify-write of one entity at its revision, retried when another writer got in between.
// For changes that depend on what is there (open a session unless one is open), which a group
// commit (group-commit.ts) cannot batch blindly; each attempt recomputes from the current value,
// so no concurrent change is lost and none is applied twice.
import { unavailable } from "../../errors.js";
import { RevisionConflict, type KvRepository, type Versioned } from "./kv-repository.js";

export interface Modified<S> extends Versioned<S> {
  /** False when `change` found nothing to do and nothing was written. */
  changed: boolean;
}

/**
 * Applies `change` to the current value (null from it: nothing to write) and writes the result at
 * the revision it was computed from. Resolves with the value as it now is, or null when the
 * entity does not exist. `change` may throw (a rule violation), which ends the attempt.
 */
export async function modifyAtRevision<S extends object>(
  repo: KvRepository<S>,
  key: string,
  change: (current: S) => S | null,
  maxAttempts = 50,
): Promise<Modified<S> | null> {
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    // After a conflict, the leader's value: a replica that is behind would conflict again.
    const current = attempt === 1 ? await repo.get(key) : await repo.getLatest(key);
    if (current === null) return null;
    const next = change(current.value);
    if (next === null) return { ...current, changed: false };
    try {
      return {
        value: next,
        revision: await repo.update(key, next, current.revision),
        changed: true,
      };
    } catch (err) {
      if (!(err instanceof RevisionConflict)) throw err;
      const delayMs = Math.random() * Math.min(50, attempt * 5);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
  throw unavailable(`${key} is too contended; retry`);
}
