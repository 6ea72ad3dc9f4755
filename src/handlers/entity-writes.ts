// Updates and deletes at a revision (docs/CONTRACT.md §3), the same for every resource. An update loads
// the entity, checks the revision and computes the merge-patched value; it recognises a retried
// update whose first try was stored (the value at the client's revision, patched, equals the
// current value) and answers it with the current entity instead of a 409. A lost race at the
// write itself is a 409 too.
import { applyMergePatch, jsonEqual, type JsonObject } from "../domain/merge-patch.js";
import { notFound, staleRevision } from "../errors.js";
import type { ClaimGuard, Claims } from "../store/kv/claims.js";
import type { IndexedRepository } from "../store/kv/indexed-repository.js";
import { RevisionConflict, type KvRepository, type Versioned } from "../store/kv/kv-repository.js";

interface Stamped {
  updated_at: string;
}

export interface UpdatePlan<S> {
  current: Versioned<S>;
  /** The value to write at `current.revision`, or null when there is nothing to write. */
  next: S | null;
  /** For a retried update whose first try was stored: the value that try started from. */
  retryOf?: S;
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
  const current = await readAtLeast(repo, key, revision);
  if (current === null) throw notFound(entity, uid);

  if (current.revision !== revision) {
    if (revision < current.revision) {
      const before = await repo.getAt(key, revision);
      if (before !== null && sameContent(apply(before, patch), current.value)) {
        return { current, next: null, retryOf: before };
      }
    }
    throw staleRevision(entity, uid);
  }

  const merged = apply(current.value, patch);
  if (sameContent(merged, current.value)) return { current, next: null };
  return { current, next: { ...merged, updated_at: options.now.toISOString() } };
}

/**
 * The entity, read again from the stream leader when the read found it missing or older than the
 * revision the client names: a direct get may come from a replica that has not applied the
 * latest write yet (docs/MEASUREMENTS.md), and judging on it would be a spurious 404 or 409.
 */
async function readAtLeast<S extends object>(
  repo: KvRepository<S>,
  key: string,
  revision: number,
): Promise<Versioned<S> | null> {
  const read = await repo.get(key);
  return read === null || read.revision < revision ? repo.getLatest(key) : read;
}

/** Equal but for when and by whom they were last written (a retry may come from another). */
function sameContent<S extends Stamped>(a: S, b: S): boolean {
  return jsonEqual(
    { ...a, updated_at: "", updated_by: "" },
    { ...b, updated_at: "", updated_by: "" },
  );
}

export interface UpdateOutcome<S> extends Versioned<S> {
  /** False when nothing was written (nothing changed, or a retried update). */
  changed: boolean;
}

/** Plans the update and writes it with its index keys (indexed-repository.ts). */
export async function updateIndexed<S extends Stamped & { uid: string }>(
  options: PlanUpdateOptions<S> & { repo: IndexedRepository<S> },
): Promise<UpdateOutcome<S>> {
  const { current, next, retryOf } = await planUpdate(options);
  // A retried update whose first try was stored may have lost its reply before its last step.
  if (retryOf !== undefined) await options.repo.finishReplace(retryOf, current.value);
  if (next === null) return { ...current, changed: false };
  return {
    value: next,
    revision: await replaceAt(options.repo, current, next, options.entity),
    changed: true,
  };
}

export interface ClaimedLayout<S> {
  claims: Claims;
  /** The unique claim the entity holds (a registrant's email in its meeting). */
  claimKeyOf: (entity: S) => string;
  /** What guards the claim of the entity as it will be. */
  guardOf: (entity: S) => ClaimGuard;
}

/**
 * `updateIndexed` for an entity that holds a unique claim: a changed claimed value takes its
 * claim along (store/kv/claims.ts `moveClaim`), and a retried update whose first try was stored
 * also finishes that try's release of the old claim.
 */
export async function updateClaimed<S extends Stamped & { uid: string }>(
  options: PlanUpdateOptions<S> & { repo: IndexedRepository<S> },
  { claims, claimKeyOf, guardOf }: ClaimedLayout<S>,
): Promise<UpdateOutcome<S>> {
  const { current, next, retryOf } = await planUpdate(options);
  if (retryOf !== undefined) {
    // The first try was stored and lost its reply, maybe before its last steps.
    await Promise.all([
      options.repo.finishReplace(retryOf, current.value),
      claims.finishMove(claimKeyOf(retryOf), claimKeyOf(current.value), options.uid),
    ]);
  }
  if (next === null) return { ...current, changed: false };
  const revision = await claims.moveClaim({
    uid: options.uid,
    from: claimKeyOf(current.value),
    to: claimKeyOf(next),
    guard: guardOf(next),
    write: () => replaceAt(options.repo, current, next, options.entity),
  });
  return { value: next, revision, changed: true };
}

/** Writes `next` over `current` at its revision; a lost race is a 409. */
export async function replaceAt<S extends { uid: string }>(
  repo: IndexedRepository<S>,
  current: Versioned<S>,
  next: S,
  entity: string,
): Promise<number> {
  try {
    return await repo.replaceIndexed(current.value, next, current.revision);
  } catch (err) {
    if (err instanceof RevisionConflict) throw staleRevision(entity, next.uid);
    throw err;
  }
}

/** Deletes the entity at `revision` with its index keys; 404 if absent, 409 if stale. */
export async function deleteIndexed<S extends { uid: string }>(
  repo: IndexedRepository<S>,
  entity: string,
  uid: string,
  revision: number,
): Promise<{ value: S; revision: number }> {
  const current = await readAtLeast(repo, repo.layout.keyOf(uid), revision);
  if (current === null) throw notFound(entity, uid);
  if (current.revision !== revision) throw staleRevision(entity, uid);
  try {
    return { value: current.value, revision: await repo.removeIndexed(current.value, revision) };
  } catch (err) {
    if (err instanceof RevisionConflict) throw staleRevision(entity, uid);
    throw err;
  }
}
