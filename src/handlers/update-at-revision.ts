// The shared first half of every update (CONTRACT §3): load the entity, check the revision, and
// compute the merge-patched value. It recognises a retried update whose first try was stored (the
// value at the client's revision, patched, equals the current value) and answers it with the
// current entity instead of a 409.
import { applyMergePatch, jsonEqual, type JsonObject } from "../domain/merge-patch.js";
import { notFound, staleRevision } from "../errors.js";
import type { KvRepository, Versioned } from "../store/kv-repository.js";

interface Stamped {
  updated_at: string;
}

export interface UpdatePlan<S> {
  current: Versioned<S>;
  /** The value to write at `current.revision`, or null when there is nothing to write. */
  next: S | null;
}

export interface PlanUpdateOptions<S extends Stamped> {
  repo: KvRepository<S>;
  key: string;
  entity: string;
  uid: string;
  revision: number;
  patch: JsonObject;
  now: Date;
  /** Rules beyond the schema for the merged value (throw AppError); defaults to a plain merge. */
  apply?: (current: S, patch: JsonObject) => S;
}

export async function planUpdate<S extends Stamped>(
  options: PlanUpdateOptions<S>,
): Promise<UpdatePlan<S>> {
  const { repo, key, entity, uid, revision, patch } = options;
  const apply = options.apply ?? ((current: S, p: JsonObject) => applyMergePatch(current, p));
  const current = await repo.get(key);
  if (current === null) throw notFound(entity, uid);

  if (current.revision !== revision) {
    if (revision < current.revision) {
      const before = await repo.getAt(key, revision);
      if (before !== null && sameContent(apply(before, patch), current.value)) {
        return { current, next: null };
      }
    }
    throw staleRevision(entity, uid);
  }

  const merged = apply(current.value, patch);
  if (sameContent(merged, current.value)) return { current, next: null };
  return { current, next: { ...merged, updated_at: options.now.toISOString() } };
}

function sameContent<S extends Stamped>(a: S, b: S): boolean {
  return jsonEqual({ ...a, updated_at: "" }, { ...b, updated_at: "" });
}
