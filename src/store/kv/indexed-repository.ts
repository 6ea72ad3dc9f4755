// A repository whose entities carry index keys (docs/CONTRACT.md §6: `index/...` keys holding the uid).
// Every resource writes them in the one crash-safe order of docs/ARCHITECTURE.md "Writes", kept
// here once; claims.ts adds the claim's part.
import type { Bucket } from "./buckets.js";
import { lastSegment } from "./keys.js";
import {
  AlreadyCreated,
  isOutcomeUnknown,
  KvRepository,
  mayHaveBeenStored,
  RevisionConflict,
  StoredUncommitted,
} from "./kv-repository.js";

export interface EntityLayout<S> {
  /** The entity's own key. */
  keyOf(uid: string): string;
  /** Every index key of the entity as it is. */
  indexKeysOf(entity: S): string[];
  /**
   * The index key, among `indexKeysOf`, that commits the entity, where one is counted
   * (registrants: `index/meeting/{meeting_uid}/{uid}`, whose number is the meeting's
   * registrant_count). It is written after the entity, only where absent, and removed first, at
   * its revision, so that the entity counts exactly while it has this key and the key's messages
   * alternate put, delete (KvRepository.countUnder). It never changes with an update.
   */
  commitKeyOf?(entity: S): string;
}

export class IndexedRepository<S extends { uid: string }> extends KvRepository<S> {
  constructor(
    bucket: Bucket,
    readonly layout: EntityLayout<S>,
  ) {
    super(bucket, true);
  }

  private async putIndexKeys(keys: readonly string[], uid: string): Promise<void> {
    await Promise.all(keys.map((key) => this.putMarker(key, uid)));
  }

  /** The entity's index keys written before it (all but the commit key). */
  private leadingKeysOf(entity: S): string[] {
    const commitKey = this.layout.commitKeyOf?.(entity);
    return this.layout.indexKeysOf(entity).filter((key) => key !== commitKey);
  }

  /**
   * Writes the commit key of a stored entity unless it exists (a retry completing the create of
   * an earlier attempt, or check-consistency); nothing without a commit key.
   */
  async commit(entity: S): Promise<void> {
    const commitKey = this.layout.commitKeyOf?.(entity);
    if (commitKey === undefined) return;
    try {
      await this.createMarker(commitKey, entity.uid);
    } catch (err) {
      if (!(err instanceof RevisionConflict)) throw err;
    }
  }

  private async removeIndexKeys(keys: readonly string[]): Promise<void> {
    await Promise.all(keys.map((key) => this.removeMarker(key)));
  }

  /**
   * Creates the entity with its index keys; AlreadyCreated when its key exists, which only an
   * earlier attempt of the same create can have written (the key is its fresh uid). `alongside`
   * is another write the entity's existence implies (a meeting's settings), made with the index
   * keys, before the entity. After a definite failure the index keys are removed again; they stay
   * when the entity may have been stored (outcome unknown, or AlreadyCreated): a retry with the
   * same uid completes the create (check-consistency removes them if it never comes). The commit
   * key, where the layout has one, comes last, also after AlreadyCreated (the earlier attempt may
   * have stopped before it).
   */
  async createIndexed(entity: S, alongside?: () => Promise<unknown>): Promise<number> {
    const keys = this.leadingKeysOf(entity);
    const key = this.layout.keyOf(entity.uid);
    let revision: number;
    try {
      await Promise.all([this.putIndexKeys(keys, entity.uid), alongside?.()]);
      try {
        revision = await this.create(key, entity);
      } catch (err) {
        if (!(err instanceof RevisionConflict)) throw err;
        await this.commit(entity);
        throw new AlreadyCreated(this.bucket.name, key, err);
      }
    } catch (err) {
      if (!mayHaveBeenStored(err))
        await Promise.allSettled(keys.map((indexKey) => this.removeMarker(indexKey)));
      throw err;
    }
    try {
      await this.commit(entity);
    } catch (err) {
      throw new StoredUncommitted(this.bucket.name, key, err);
    }
    return revision;
  }

  /**
   * Replaces `before` by `after` at `revision`, moving index keys; RevisionConflict if stale. The
   * keys it drops are removed only at the revision they had before the entity was written: a later
   * write that needs one of them again (an answer flipped back) puts it again first, so this
   * removal, however late, cannot take it away.
   */
  async replaceIndexed(before: S, after: S, revision: number): Promise<number> {
    if (this.layout.commitKeyOf?.(before) !== this.layout.commitKeyOf?.(after)) {
      throw new RangeError("an update must not change the entity's commit key");
    }
    const oldKeys = this.leadingKeysOf(before);
    const newKeys = this.leadingKeysOf(after);
    const added = newKeys.filter((key) => !oldKeys.includes(key));
    const dropped = oldKeys.filter((key) => !newKeys.includes(key));
    let newRevision: number;
    let droppedRevisions: (number | null)[];
    try {
      [droppedRevisions] = await Promise.all([
        Promise.all(dropped.map((key) => this.latestRevision(key))),
        this.putIndexKeys(added, after.uid),
      ]);
      newRevision = await this.update(this.layout.keyOf(after.uid), after, revision);
    } catch (err) {
      // As in createIndexed: the new keys stay when the update may have been stored.
      if (!isOutcomeUnknown(err)) {
        await Promise.allSettled(added.map((key) => this.removeMarker(key)));
      }
      throw err;
    }
    await Promise.all(
      dropped.map(async (key, i) => {
        const markerRevision = droppedRevisions[i];
        if (markerRevision !== null && markerRevision !== undefined) {
          await this.removeMarker(key, markerRevision);
        }
      }),
    );
    return newRevision;
  }

  /**
   * Finishes a replace whose entity write was stored but whose reply was lost (a retried update,
   * see handlers/entity-writes.ts): removes the keys `before` had and `current` no longer has.
   */
  async finishReplace(before: S, current: S): Promise<void> {
    const currentKeys = this.layout.indexKeysOf(current);
    await this.removeIndexKeys(
      this.layout.indexKeysOf(before).filter((key) => !currentKeys.includes(key)),
    );
  }

  /**
   * Removes the entity (at `revision` when given), then its index keys; the delete's revision.
   * A commit key goes first, at its revision: the entity no longer counts from then on; if the
   * entity then turns out to have changed (RevisionConflict) and still exists, the key is written
   * again (not when a concurrent delete won: the key would count a registrant that is gone).
   */
  async removeIndexed(entity: S, revision?: number): Promise<number> {
    const commitKey = this.layout.commitKeyOf?.(entity);
    if (commitKey !== undefined) {
      const commitRevision = await this.latestRevision(commitKey);
      if (commitRevision !== null) await this.removeMarker(commitKey, commitRevision);
    }
    let deleted: number;
    try {
      deleted = await this.remove(this.layout.keyOf(entity.uid), revision);
    } catch (err) {
      if (err instanceof RevisionConflict) {
        const current = await this.getLatest(this.layout.keyOf(entity.uid));
        if (current !== null) await this.commit(current.value);
      }
      throw err;
    }
    await this.removeIndexKeys(this.leadingKeysOf(entity));
    return deleted;
  }

  /**
   * Removes every entity listed under an index prefix whose keys end with the entity's uid
   * (cascades of a parent's delete), calling `removed` for each (claims, events); an index key
   * whose entity is gone, or is not the parent's (`belongs`), is removed too.
   */
  async removeAllUnder(
    prefix: string,
    belongs: (entity: S) => boolean,
    removed: (entity: S, revision: number) => Promise<void>,
  ): Promise<void> {
    for await (const keys of this.allKeysUnder(prefix)) {
      await Promise.all(
        keys.map(async (indexKey) => {
          const found = await this.get(this.layout.keyOf(lastSegment(indexKey)));
          if (found === null || !belongs(found.value)) {
            await this.removeMarker(indexKey);
            return;
          }
          await removed(found.value, await this.removeIndexed(found.value));
        }),
      );
    }
  }
}
