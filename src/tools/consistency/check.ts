// What every check of check-consistency shares (consistency.ts): reporting a finding, the grace
// period, the bounded walk over a bucket's keys (the store's stream listing, kv-repository.ts
// `keysUnder`), the conditional repairs, and the pages of parents whose children are counted by
// index key.
import pLimit from "p-limit";
import type { Claim } from "../../store/kv/claims.js";
import { decodeKey, encodeKey } from "../../store/kv/keys.js";
import {
  RevisionConflict,
  type KvRepository,
  type ListedKey,
} from "../../store/kv/kv-repository.js";

export interface Finding {
  kind: string;
  bucket: string;
  /** The logical key or uid at fault. */
  subject: string;
  message: string;
}

export interface Progress {
  /** The bucket whose keys are being read. */
  bucket: string;
  /** Keys read so far by this walk or pass. */
  keys: number;
  /** Set while counting the children of one page of parents: the parents, and the page (from 1). */
  pass?: { parents: string; page: number };
}

export interface CheckSettings {
  repair: boolean;
  now: () => Date;
  /** Keys younger than this may belong to a write in flight and are not judged. */
  graceMs: number;
  /** Parents (meetings, past meetings) judged per pass over their children's index keys. */
  pageSize: number;
  onFinding: (finding: Finding) => void;
  onProgress?: (progress: Progress) => void;
}

const PARALLEL_READS = 32;
/** Keys per page of a listing: what a listing holds at most, beyond the keys being checked. */
const KEYS_PER_PAGE = 500;

/** What a walk needs of a page it fills: how full it is, and judging it. */
export interface Pager {
  readonly size: number;
  flush(): Promise<void>;
}

/** Parents gathered for one pass over their children; `judge` compares and clears them. */
export class Page<T> implements Pager {
  readonly parents = new Map<string, T>();
  private pages = 0;

  constructor(private readonly judge: (parents: Map<string, T>, page: number) => Promise<void>) {}

  get size(): number {
    return this.parents.size;
  }

  async flush(): Promise<void> {
    if (this.parents.size === 0) return;
    this.pages += 1;
    await this.judge(this.parents, this.pages);
    this.parents.clear();
  }
}

/** A key as its logical segments joined by "/" (how findings name keys), or as it is. */
export function logical(key: string): string {
  try {
    return decodeKey(key).join("/");
  } catch {
    return key;
  }
}

export class Check {
  findings = 0;
  private readonly limit = pLimit(PARALLEL_READS);

  constructor(readonly settings: CheckSettings) {}

  get repair(): boolean {
    return this.settings.repair;
  }

  found(kind: string, bucket: string, subject: string, message: string): void {
    this.findings += 1;
    this.settings.onFinding({ kind, bucket, subject, message });
  }

  /** Written within the grace period: it may belong to a request in flight. */
  isYoung(written: Date): boolean {
    return this.settings.now().getTime() - written.getTime() < this.settings.graceMs;
  }

  claimOf(uid: string): Claim {
    return { uid, claimed_at: this.settings.now().toISOString() };
  }

  /**
   * Visits every key of a bucket with bounded parallelism, each with its listed revision (a
   * visit judges a key only while it is still at that revision: the listing holds every revision
   * of a key, `keysUnder`). With a page, the visits are let finish and the page judged whenever
   * they could fill it, so it never holds more than `pageSize`.
   */
  async walk(
    repo: KvRepository<object>,
    visit: (listed: ListedKey) => Promise<void>,
    page?: Pager,
  ): Promise<void> {
    const bucket = repo.bucket.name;
    const keys = await this.forEachKey(repo, "", visit, page, (n) =>
      this.settings.onProgress?.({ bucket, keys: n }),
    );
    this.settings.onProgress?.({ bucket, keys });
  }

  /**
   * One pass over the index keys under `prefix` (`index/{kind}/{parent}/{uid}`) of a bucket, as
   * they are: `count(parent, uid)` for each current one of a parent in `parents`. These keys
   * commit their children (docs/ARCHITECTURE.md "Writes"), so they are what a parent's count or
   * list is made of, and a repair of one moves the count or list with it.
   */
  async countChildren(
    repo: KvRepository<object>,
    prefix: string,
    pass: { parents: string; page: number },
    parents: ReadonlyMap<string, unknown>,
    count: (parent: string, uid: string) => void,
  ): Promise<void> {
    const bucket = repo.bucket.name;
    // Compared as key tokens, so that only the keys of the page's parents are read and decoded.
    const parentOfToken = new Map([...parents.keys()].map((uid) => [encodeKey([uid]), uid]));
    const keys = await this.forEachKey(
      repo,
      prefix,
      async ({ key, seq }) => {
        const tokens = key.split(".");
        const parent = parentOfToken.get(tokens[2] ?? "");
        if (parent === undefined || tokens.length !== 4) return;
        const marker = await repo.getMarker(key);
        // A settled parent has no young children: a young key is a repair's or a parent's that
        // is not judged.
        if (marker?.revision !== seq || this.isYoung(marker.written)) return;
        count(parent, logical(tokens[3] ?? ""));
      },
      undefined,
      (n) => this.settings.onProgress?.({ bucket, keys: n, pass }),
    );
    this.settings.onProgress?.({ bucket, keys, pass });
  }

  /**
   * The keys under `prefix` ("" for all) in stream order, a page at a time: the next page is read
   * only once the visits of the one before have started, and at most 4 x PARALLEL_READS visits
   * wait, so memory is bounded whatever the size of the bucket. Returns the keys listed.
   */
  private async forEachKey(
    repo: KvRepository<object>,
    prefix: string,
    visit: (listed: ListedKey) => Promise<void>,
    page: Pager | undefined,
    progress: (keys: number) => void,
  ): Promise<number> {
    const pageSize = this.settings.pageSize;
    let seen = 0;
    let after = 0;
    const pending = new Set<Promise<void>>();
    for (;;) {
      const listed = await repo.keysUnder(prefix, after, KEYS_PER_PAGE);
      for (const key of listed.keys) {
        if (page !== undefined && page.size + pending.size >= pageSize) {
          await Promise.all(pending);
          if (page.size >= pageSize) await page.flush();
        }
        const task = this.limit(() => visit(key)).finally(() => pending.delete(task));
        pending.add(task);
        seen += 1;
        if (seen % 1000 === 0) progress(seen);
        if (pending.size >= PARALLEL_READS * 4) await Promise.race(pending);
      }
      // A page cut short (read message by message for too long) goes on from where it stopped.
      if (listed.ended || listed.last === after) break;
      after = listed.last;
    }
    await Promise.all(pending);
    await page?.flush();
    return seen;
  }

  /**
   * Deletes a key only if it is still at the revision that was judged: a repair beside live
   * writers must never remove what a request wrote after the check read it.
   */
  async removeAt(repo: KvRepository<object>, key: string, revision: number): Promise<void> {
    await repo.removeMarker(key, revision);
  }

  /** Creates a claim that was judged missing; false when a writer created it meanwhile. */
  async createClaim(claims: KvRepository<Claim>, key: string, uid: string): Promise<boolean> {
    return ifAbsent(() => claims.create(key, this.claimOf(uid)));
  }

  /** Creates an index key that was judged missing, unless a writer created it meanwhile. */
  async createIndexKey(repo: KvRepository<object>, key: string, uid: string): Promise<void> {
    await ifAbsent(() => repo.createMarker(key, uid));
  }
}

/** Runs a create-only write; false when the key exists (a writer got there first). */
export async function ifAbsent(create: () => Promise<unknown>): Promise<boolean> {
  try {
    await create();
    return true;
  } catch (err) {
    if (!(err instanceof RevisionConflict)) throw err;
    return false;
  }
}

/** Whether a key holds a value now (any value: index keys are not JSON). */
export async function exists(repo: KvRepository<object>, key: string): Promise<boolean> {
  return (await repo.getMarker(key)) !== null;
}
