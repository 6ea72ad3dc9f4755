// Uniqueness claims: a create-only key whose name is the unique fact ("email E is registered for
// meeting M") and whose value names the entity holding it. Exactly one concurrent claimant wins
// the KV create, on any instance, which check-then-write cannot guarantee. A claim is written
// before its entity and released after the entity is deleted; a claim whose entity never
// appeared (its writer crashed) is taken over once it is older than the lease.
import { unavailable } from "../../errors.js";
import { mayHaveBeenStored, RevisionConflict, type KvRepository } from "./kv-repository.js";

export interface Claim {
  /** The uid of the entity that holds the claim. */
  uid: string;
  claimed_at: string;
}

export type ClaimOutcome =
  | { won: true; revision: number }
  | { won: false; holder: string; revision: number; stale: boolean };

/** What a claim guards, for `claimUnique` and `moveClaim`. */
export interface ClaimGuard {
  /** Whether the entity `uid` exists: a claim whose entity never appeared may be taken over. */
  exists(uid: string): Promise<boolean>;
  /** The error when another entity holds the claim (a conflict). */
  taken(): Error;
}

const MAX_CLAIM_ATTEMPTS = 10;

/** How long a claim is held for an entity that has not appeared: longer than any create takes. */
export const CLAIM_LEASE_MS = 30_000;

export class Claims {
  constructor(
    private readonly repo: KvRepository<Claim>,
    private readonly now: () => Date,
    /** Longer than any create takes, so that a claim in use is never taken over. */
    private readonly leaseMs: number = CLAIM_LEASE_MS,
  ) {}

  async claim(key: string, uid: string): Promise<ClaimOutcome> {
    const claim: Claim = { uid, claimed_at: this.now().toISOString() };
    for (let attempt = 1; ; attempt++) {
      try {
        return { won: true, revision: await this.repo.create(key, claim) };
      } catch (err) {
        if (!(err instanceof RevisionConflict)) throw err;
      }
      // The leader's value: a replica that is behind may not have the claim yet, and answering
      // "none" would make this a loop of conflicts.
      const current = await this.repo.getLatest(key);
      if (current === null) {
        // Released in between: try again, a few times; past that the key is too contended.
        if (attempt >= MAX_CLAIM_ATTEMPTS) throw unavailable(`claim ${key} is too contended`);
        continue;
      }
      const age = this.now().getTime() - Date.parse(current.value.claimed_at);
      return {
        won: false,
        holder: current.value.uid,
        revision: current.revision,
        stale: !(age < this.leaseMs),
      };
    }
  }

  /**
   * Claims `key` for `uid`, taking over a claim whose entity never appeared once its lease is
   * over; throws `guard.taken()` when another entity holds it.
   */
  async claimUnique(key: string, uid: string, guard: ClaimGuard): Promise<void> {
    const outcome = await this.claim(key, uid);
    if (outcome.won) return;
    if (outcome.holder === uid) {
      // Already ours (a retry, or an email changed back before an earlier move released this
      // claim): renewed, so that the earlier move's conditional release (moveClaim) fails.
      if (await this.takeOver(key, outcome.revision, uid)) return;
      return this.claimUnique(key, uid, guard);
    }
    const holderExists = await guard.exists(outcome.holder);
    if (!holderExists && outcome.stale && (await this.takeOver(key, outcome.revision, uid))) {
      return;
    }
    throw guard.taken();
  }

  /**
   * Creates the entity `uid` under the claim `key`, in the order of docs/ARCHITECTURE.md
   * "Writes": the claim first (taken here with `claimUnique` when `guard` is given, else already
   * held by the caller), then the entity (`create`, the commit point). A create that failed
   * releases the claim unless its outcome is unknown (`releaseAfterFailure`). Without a `key`
   * (nothing unique to claim) it is `create` alone.
   */
  async createClaimed<T>(created: {
    key: string | undefined;
    uid: string;
    guard?: ClaimGuard;
    create: () => Promise<T>;
  }): Promise<T> {
    const { key, uid, guard } = created;
    if (key === undefined) return created.create();
    if (guard !== undefined) await this.claimUnique(key, uid, guard);
    try {
      return await created.create();
    } catch (err) {
      await this.releaseAfterFailure(key, uid, err);
      throw err;
    }
  }

  /**
   * Writes an entity whose claimed field may change (an update), moving `uid`'s claim from
   * `from` to `to` in the order of a create: the new claim first, then the entity (`write`, the
   * commit point), then the old claim goes. A crash in between leaves `uid` holding both claims,
   * which check-consistency repairs, never an entity without its claim. A write that failed
   * releases the new claim unless its outcome is unknown (see `releaseAfterFailure`).
   */
  async moveClaim<T>(move: {
    uid: string;
    from: string;
    to: string;
    guard: ClaimGuard;
    write: () => Promise<T>;
  }): Promise<T> {
    const { uid, from, to } = move;
    if (from === to) return move.write();
    // The old claim as it is before the write: it is released only at this revision, so that a
    // later update that moves the email back (and renews this claim) keeps it.
    const [fromClaim] = await Promise.all([
      this.repo.getLatest(from),
      this.claimUnique(to, uid, move.guard),
    ]);
    let written: T;
    try {
      written = await move.write();
    } catch (err) {
      await this.releaseAfterFailure(to, uid, err);
      throw err;
    }
    if (fromClaim !== null && fromClaim.value.uid === uid) {
      await this.repo.removeMarker(from, fromClaim.revision);
    }
    return written;
  }

  /**
   * The last step of a `moveClaim` whose write was stored but whose reply was lost (a retried
   * update, handlers/entity-writes.ts `retryOf`): the claim left behind at `from` goes.
   */
  async finishMove(from: string, to: string, uid: string): Promise<void> {
    if (from !== to) await this.release(from, uid);
  }

  /** Takes over a stale claim; false when someone else changed it first. */
  async takeOver(key: string, revision: number, uid: string): Promise<boolean> {
    try {
      await this.repo.update(key, { uid, claimed_at: this.now().toISOString() }, revision);
      return true;
    } catch (err) {
      if (err instanceof RevisionConflict) return false;
      throw err;
    }
  }

  /** Releases the claim if `uid` still holds it (never someone else's). */
  async release(key: string, uid: string): Promise<void> {
    const current = await this.repo.get(key);
    if (current === null || current.value.uid !== uid) return;
    try {
      await this.repo.remove(key, current.revision);
    } catch (err) {
      if (!(err instanceof RevisionConflict)) throw err;
    }
  }

  /**
   * Releases the claim after the write of its entity failed, unless the entity may have been
   * stored (outcome unknown, docs/MEASUREMENTS.md, or stored by an earlier attempt under the same uid): then
   * it must keep its claim. A retry
   * with the same uid (Idempotency-Key) reuses the claim; a claim whose entity never appears is
   * taken over once its lease is over, and check-consistency removes it.
   */
  async releaseAfterFailure(key: string, uid: string, failure: unknown): Promise<void> {
    if (mayHaveBeenStored(failure)) return;
    await this.release(key, uid).catch(() => undefined);
  }
}
