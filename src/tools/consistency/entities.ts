// The check every bucket of entities with index keys and claims shares: each entity has the
// index keys and claims of its layout (store/*: `indexKeysOf`, the claim keys) and its parent;
// each index key or claim names an entity that has it. Orphans are deleted with their keys.
import type { Claim } from "../../store/kv/claims.js";
import type { IndexedRepository } from "../../store/kv/indexed-repository.js";
import { decodeKey } from "../../store/kv/keys.js";
import { KvRepository, type ListedKey } from "../../store/kv/kv-repository.js";
import { logical, type Check, type Pager } from "./check.js";

/** How one bucket of entities hangs together, beyond its layout's entity and index keys. */
export interface EntitySpec<T extends { uid: string }> {
  repo: IndexedRepository<T>;
  isEntityKey(key: string): boolean;
  /** The claims holding `{uid}` that the entity must have. */
  claimKeys(entity: T): string[];
  /** Why the entity is an orphan (its parent is gone), or null. */
  orphaned(entity: T): Promise<string | null>;
  /** Called for every entity that stays (to gather facts for later checks). */
  seen?(entity: T, young: boolean): void;
  /** Filled by `seen`; judged whenever it is full. */
  page?: Pager;
}

/** Entities, their index keys and claims, both ways. */
export async function checkEntities<T extends { uid: string }>(
  check: Check,
  spec: EntitySpec<T>,
): Promise<void> {
  const { repo } = spec;
  const claims = new KvRepository<Claim>(repo.bucket);
  const visit = async (listed: ListedKey) => {
    if (spec.isEntityKey(listed.key)) await checkEntity(check, spec, claims, listed);
    else await checkEntityKey(check, spec, claims, listed);
  };
  await check.walk(repo, visit, spec.page);
}

/** An entity: its parent, then each index key and claim it must have. */
async function checkEntity<T extends { uid: string }>(
  check: Check,
  spec: EntitySpec<T>,
  claims: KvRepository<Claim>,
  { key, seq }: ListedKey,
): Promise<void> {
  const { repo } = spec;
  const bucket = repo.bucket.name;
  const entry = await repo.getWritten(key);
  if (entry?.revision !== seq) return;
  const entity = entry.value;
  const young = check.isYoung(entry.written);
  const orphanReason = young ? null : await spec.orphaned(entity);
  if (orphanReason !== null) {
    check.found("orphan-entity", bucket, entity.uid, orphanReason);
    if (check.repair) await removeWithKeys(check, spec, claims, key, entity, entry.revision);
    return;
  }
  spec.seen?.(entity, young);
  const commitKey = repo.layout.commitKeyOf?.(entity);
  for (const indexKey of repo.layout.indexKeysOf(entity)) {
    // A young entity's commit key may be on its way: it is written after the entity.
    if (young && indexKey === commitKey) continue;
    if ((await repo.getMarker(indexKey)) !== null) continue;
    check.found("missing-index-key", bucket, logical(indexKey), `missing for ${entity.uid}`);
    if (check.repair) await check.createIndexKey(repo, indexKey, entity.uid);
  }
  for (const claimKey of spec.claimKeys(entity)) {
    const claim = await claims.get(claimKey);
    if (claim?.value.uid === entity.uid) continue;
    const holder = claim === null ? null : await entityOf(repo, claim.value.uid);
    if (claim !== null && holder !== null && spec.claimKeys(holder.value).includes(claimKey)) {
      // Two entities with one unique fact (e.g. the same email twice in a meeting): which one
      // goes is a decision for a person, so it is reported and never repaired.
      check.found(
        "duplicate",
        bucket,
        logical(claimKey),
        `${entity.uid} and ${claim.value.uid} both have it`,
      );
      continue;
    }
    check.found("missing-claim", bucket, logical(claimKey), `not held by ${entity.uid}`);
    if (!check.repair) continue;
    // A missing claim is created; one left by an entity that is gone is taken over at its
    // revision; either fails when a writer got there first, and then the next run judges.
    if (claim !== null) await check.removeAt(claims, claimKey, claim.revision);
    await check.createClaim(claims, claimKey, entity.uid);
  }
}

/** An index key or a claim: the entity it names must exist and have it. */
async function checkEntityKey<T extends { uid: string }>(
  check: Check,
  spec: EntitySpec<T>,
  claims: KvRepository<Claim>,
  { key, seq }: ListedKey,
): Promise<void> {
  const { repo } = spec;
  const marker = await repo.getMarker(key);
  if (marker?.revision !== seq || check.isYoung(marker.written)) return;
  const isClaim = decodeKey(key)[0] === "unique";
  const claim = isClaim ? await claims.get(key) : null;
  const holder = isClaim ? (claim?.value.uid ?? "") : marker.value;
  const entity = holder === "" ? null : await entityOf(repo, holder);
  const expected =
    entity === null
      ? []
      : isClaim
        ? spec.claimKeys(entity.value)
        : repo.layout.indexKeysOf(entity.value);
  if (expected.includes(key)) return;
  check.found(
    isClaim ? "orphan-claim" : "orphan-index-key",
    repo.bucket.name,
    logical(key),
    `${holder || "no entity"} does not match`,
  );
  if (check.repair) await check.removeAt(repo, key, claim?.revision ?? marker.revision);
}

/** Deletes an orphan at the revision judged, then the index keys and claims that still name it. */
async function removeWithKeys<T extends { uid: string }>(
  check: Check,
  spec: EntitySpec<T>,
  claims: KvRepository<Claim>,
  key: string,
  entity: T,
  revision: number,
): Promise<void> {
  const { repo } = spec;
  await check.removeAt(repo, key, revision);
  await Promise.all([
    ...repo.layout.indexKeysOf(entity).map(async (k) => {
      const marker = await repo.getMarker(k);
      if (marker?.value === entity.uid) await check.removeAt(repo, k, marker.revision);
    }),
    ...spec.claimKeys(entity).map(async (k) => {
      const claim = await claims.get(k);
      if (claim?.value.uid === entity.uid) await check.removeAt(claims, k, claim.revision);
    }),
  ]);
}

/** The entity a key or claim names; null when it is gone or the name could not be a uid. */
async function entityOf<T extends { uid: string }>(repo: IndexedRepository<T>, uid: string) {
  let key: string;
  try {
    key = repo.layout.keyOf(uid);
  } catch {
    return null;
  }
  return repo.get(key);
}
