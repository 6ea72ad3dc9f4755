// Retried creates (docs/CONTRACT.md §3). A create carrying `Idempotency-Key` first claims a record
// keyed by (subject, key) with a create-only write, which exactly one attempt on any instance wins.
// The record names the uid the new entity will take before anything is written, so that a retry
// after a crash or a timed-out write can find what the first attempt stored instead of creating a
// second entity. Records expire with the bucket's 24 h max age.
import { createHash } from "node:crypto";
import { AppError, conflict, unavailable } from "../errors.js";
import { encodeKey } from "../store/kv/keys.js";
import { AlreadyCreated, RevisionConflict, type KvRepository } from "../store/kv/kv-repository.js";

export interface IdempotencyRecord {
  state: "pending" | "done";
  /** Hash of the request body: the same key with another body is a conflict. */
  request_hash: string;
  uid: string;
  /** When the current attempt started (ms since epoch); a pending record older than the lease is abandoned. */
  started_at_ms: number;
  reply?: object;
}

export const IDEMPOTENCY_KEY_HEADER = "Idempotency-Key";
const VALID_KEY = /^[\x21-\x7e]{1,128}$/;

export function isValidIdempotencyKey(key: string): boolean {
  return VALID_KEY.test(key);
}

export interface IdempotencyOptions {
  records: KvRepository<IdempotencyRecord>;
  now: () => number;
  /** How long an attempt may stay pending before a retry takes over. */
  leaseMs: number;
  /** How long a retry waits for an attempt in flight elsewhere before answering `unavailable`. */
  waitMs: number;
  pollMs: number;
}

export interface CreateAttempt {
  subject: string;
  key: string;
  body: unknown;
  /** The uid for the entity if this attempt is the one that creates it. */
  freshUid: string;
  run(uid: string): Promise<object>;
  findCreated(uid: string): Promise<object | null>;
}

export class IdempotentCreates {
  constructor(private readonly options: IdempotencyOptions) {}

  async execute(attempt: CreateAttempt): Promise<object> {
    const { records, now, waitMs, pollMs, leaseMs } = this.options;
    const recordKey = encodeKey(["create", attempt.subject, attempt.key]);
    const requestHash = hashRequest(attempt.body);
    const giveUpAt = now() + waitMs;

    for (;;) {
      const claim: IdempotencyRecord = {
        state: "pending",
        request_hash: requestHash,
        uid: attempt.freshUid,
        started_at_ms: now(),
      };
      try {
        const revision = await records.create(recordKey, claim);
        return await this.runOwned(recordKey, claim, revision, attempt);
      } catch (err) {
        if (!(err instanceof RevisionConflict)) throw err;
      }

      // The leader's value: a replica that is behind may not have the record yet.
      const existing = await records.getLatest(recordKey);
      if (existing === null) {
        // Expired or released in between: claim again, while the wait lasts.
        if (now() >= giveUpAt) throw unavailable(`Idempotency-Key ${attempt.key} is contended`);
        continue;
      }
      const record = existing.value;
      if (record.request_hash !== requestHash) {
        throw conflict(
          `Idempotency-Key ${attempt.key} was already used with a different request on ${attempt.subject}`,
        );
      }
      if (record.state === "done" && record.reply !== undefined) return record.reply;

      if (now() - record.started_at_ms >= leaseMs) {
        // The attempt that claimed the key is gone (crash, or its outcome was unknown): whatever
        // it stored is the answer; if it stored nothing, this attempt takes over with its uid.
        const found = await attempt.findCreated(record.uid);
        if (found !== null) {
          await this.complete(recordKey, record, existing.revision, found);
          return found;
        }
        const takeover: IdempotencyRecord = { ...record, started_at_ms: now() };
        try {
          const revision = await records.update(recordKey, takeover, existing.revision);
          return await this.runOwned(recordKey, takeover, revision, attempt);
        } catch (err) {
          if (!(err instanceof RevisionConflict)) throw err;
          continue; // another retry took over first
        }
      }

      if (now() >= giveUpAt) {
        throw unavailable(
          `a create with Idempotency-Key ${attempt.key} is still in progress`,
          undefined,
          pollMs * 4,
        );
      }
      await sleep(pollMs);
    }
  }

  private async runOwned(
    recordKey: string,
    record: IdempotencyRecord,
    revision: number,
    attempt: CreateAttempt,
  ): Promise<object> {
    let reply: object;
    try {
      reply = await this.runOrFind(attempt, record.uid);
    } catch (err) {
      // A definite failure releases the key so that a corrected retry can run. After
      // `unavailable` the outcome is unknown: the record stays, and a retry looks for the
      // entity under the recorded uid before creating anything.
      const records = this.options.records;
      if (err instanceof AppError && err.code === "unavailable") {
        // Mark the lease as over, so the next retry checks at once instead of waiting it out.
        const abandoned: IdempotencyRecord = { ...record, started_at_ms: 0 };
        await records.update(recordKey, abandoned, revision).catch(() => undefined);
      } else {
        await records.remove(recordKey, revision).catch(() => undefined);
      }
      throw err;
    }
    await this.complete(recordKey, record, revision, reply);
    return reply;
  }

  /**
   * Runs the create; when its entity turns out to exist already, an earlier attempt under this
   * uid stored it (a lookup before may have missed it, e.g. on a replica that was behind): that
   * entity is the reply, never a conflict.
   */
  private async runOrFind(attempt: CreateAttempt, uid: string): Promise<object> {
    try {
      return await attempt.run(uid);
    } catch (err) {
      if (!(err instanceof AlreadyCreated)) throw err;
      const found = await attempt.findCreated(uid);
      if (found === null) throw err;
      return found;
    }
  }

  private async complete(
    recordKey: string,
    record: IdempotencyRecord,
    revision: number,
    reply: object,
  ): Promise<void> {
    const done: IdempotencyRecord = { ...record, state: "done", reply };
    // If this fails the entity exists anyway, and a retry finds it through findCreated.
    await this.options.records.update(recordKey, done, revision).catch(() => undefined);
  }
}

/** Hash of a JSON value, independent of the order of object keys. */
export function hashRequest(body: unknown): string {
  return createHash("sha256").update(canonicalJson(body)).digest("base64url");
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`);
    return `{${entries.join(",")}}`;
  }
  return JSON.stringify(value);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
