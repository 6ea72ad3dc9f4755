// Uniqueness claims: a create-only key whose name is the unique fact ("email E is registered for
// meeting M") and whose value names the entity holding it. Exactly one concurrent claimant wins
// the KV create, on any instance, which check-then-write cannot guarantee. A claim is written
// before its entity and released after the entity is deleted; a claim whose entity never
// appeared (its writer crashed) is taken over once it is older than the lease.
import { isOutcomeUnknown, RevisionConflict, type KvRepository } from "./kv-repository.js";

export interface Claim {
  /** The uid of the entity that holds the claim. */
  uid: string;
  claimed_at: string;
}

export type ClaimOutcome =
  | { won: true; revision: number }
  | { won: false; holder: string; revision: number; stale: boolean };

export class Claims {
  constructor(
    private readonly repo: KvRepository<Claim>,
    private readonly now: () => Date,
    /** Longer than any create takes, so that a claim in use is never taken over. */
    private readonly leaseMs: number,
  ) {}

  async claim(key: string, uid: string): Promise<ClaimOutcome> {
    const claim: Claim = { uid, claimed_at: this.now().toISOString() };
    for (;;) {
      try {
        return { won: true, revision: await this.repo.create(key, claim) };
      } catch (err) {
        if (!(err instanceof RevisionConflict)) throw err;
      }
      const current = await this.repo.get(key);
      if (current === null) continue; // released in between: try again
      const age = this.now().getTime() - Date.parse(current.value.claimed_at);
      return {
        won: false,
        holder: current.value.uid,
        revision: current.revision,
        stale: !(age < this.leaseMs),
      };
    }
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
   * Releases the claim after the write of its entity failed, unless that write's outcome is
   * unknown (503, FACTS.md): the entity may have been stored and must keep its claim. A retry
   * with the same uid (Idempotency-Key) reuses the claim; a claim whose entity never appears is
   * taken over once its lease is over, and check-consistency removes it.
   */
  async releaseAfterFailure(key: string, uid: string, failure: unknown): Promise<void> {
    if (isOutcomeUnknown(failure)) return;
    await this.release(key, uid).catch(() => undefined);
  }
}
