// Cursor pagination (docs/CONTRACT.md §3 "List"). A cursor is opaque to clients: a position in the list,
// bound to the list's filters so that it cannot be replayed against another list. Lists over the
// buckets page in stream order (the order in which their keys were written) and their cursor is
// the stream sequence of the last message read; a list computed in memory (occurrences) pages by
// key. Pages of a bucket are also cut to fit the server's max payload while they are read.
import { invalidField } from "../../errors.js";
import type { KeyPage, ListedKey } from "./kv-repository.js";

/** A list's `limit` when the request gives none (docs/CONTRACT.md §3 "List"). */
export const DEFAULT_PAGE_SIZE = 100;

interface CursorState {
  /** The list (subject and filters) the cursor belongs to. */
  s: string;
  /** The last key of the previous page (lists paged by key). */
  k?: string;
  /** The stream sequence of the last message read for the previous page (lists of a bucket). */
  q?: number;
}

function encodeState(state: CursorState): string {
  return Buffer.from(JSON.stringify(state), "utf8").toString("base64url");
}

function notACursor(): never {
  throw invalidField("/cursor", "is not a cursor returned by this list");
}

function decodeState(scope: string, cursor: string): Partial<CursorState> {
  let state: unknown;
  try {
    state = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    notACursor();
  }
  if (typeof state !== "object" || state === null) notACursor();
  const { s, k, q } = state as Partial<CursorState>;
  if (typeof s !== "string") notACursor();
  if (s !== scope) throw invalidField("/cursor", "belongs to a list with other filters");
  return { s, ...(k === undefined ? {} : { k }), ...(q === undefined ? {} : { q }) };
}

export function encodeCursor(scope: string, lastKey: string): string {
  return encodeState({ s: scope, k: lastKey });
}

/** The last key of the previous page, or undefined for the first page. */
export function decodeCursor(scope: string, cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  const { k } = decodeState(scope, cursor);
  if (typeof k !== "string" || k.length === 0) notACursor();
  return k;
}

export function encodeSequenceCursor(scope: string, lastSequence: number): string {
  return encodeState({ s: scope, q: lastSequence });
}

/** The stream sequence the page starts after: 0 for the first page. */
export function decodeSequenceCursor(scope: string, cursor: string | undefined): number {
  if (cursor === undefined) return 0;
  const { q } = decodeState(scope, cursor);
  if (typeof q !== "number" || !Number.isSafeInteger(q) || q < 1) notACursor();
  return q;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** Where a list's keys come from: a range of a bucket's stream (kv-repository.ts). */
export interface ListSource {
  /**
   * Keys written after stream sequence `after`, in stream order, at most `count`; fewer only
   * at the end of the list or when the read was cut short (then `last` says where it stopped).
   */
  keys(after: number, count: number): Promise<KeyPage>;
  /**
   * Whether the listed message is still the key's latest: a key deleted and written again, or
   * an entity updated, has older messages in the stream that must not list it twice.
   */
  isCurrent(listed: ListedKey): Promise<boolean>;
}

export interface PageQuery<T> {
  /** Identifies the list and its filters, e.g. "meetings.list|project=...". */
  scope: string;
  limit: number;
  cursor: string | undefined;
  source: ListSource;
  /** The item behind a key, or null to skip it (gone, or no longer matching the filters). */
  load(key: string): Promise<T | null>;
  /** Upper bound of a reply's size in bytes. */
  maxReplyBytes: number;
}

/**
 * What a reply adds around its items or entity: the JSON envelope, headers, the subject. Defined
 * here, where pages are cut while they are read, because store/ does not import rpc/; replies
 * computed in memory are fitted by rpc/reply-size.ts with the same figure.
 */
export const REPLY_ENVELOPE_BYTES = 1024;

/** The item behind a listed key, or null when the key's message is not its latest. */
async function loadCurrent<T>(query: PageQuery<T>, listed: ListedKey): Promise<T | null> {
  // Both reads at once: the check costs no extra round trip.
  const [current, item] = await Promise.all([
    query.source.isCurrent(listed),
    query.load(listed.key),
  ]);
  return current ? item : null;
}

export async function readPage<T>(query: PageQuery<T>): Promise<Page<T>> {
  const { limit, maxReplyBytes, scope } = query;
  let after = decodeSequenceCursor(scope, query.cursor);
  const items: T[] = [];
  let bytes = REPLY_ENVELOPE_BYTES;
  for (;;) {
    const wanted = limit - items.length;
    // One key more than needed tells whether anything follows the page.
    const { keys, ended, last } = await query.source.keys(after, wanted + 1);
    const batch = keys.slice(0, wanted);
    const loaded = await Promise.all(batch.map((listed) => loadCurrent(query, listed)));
    for (const [i, item] of loaded.entries()) {
      const listed = batch[i] as ListedKey;
      if (item !== null) {
        const size = Buffer.byteLength(JSON.stringify(item)) + 1;
        if (bytes + size > maxReplyBytes && items.length > 0) {
          return { items, next_cursor: encodeSequenceCursor(scope, after) };
        }
        bytes += size;
        items.push(item);
      }
      after = listed.seq;
    }
    if (keys.length <= wanted) {
      if (ended) return { items, next_cursor: null };
      // Cut short (stream-pages.ts): a shorter page, and the list goes on where the read stopped.
      return { items, next_cursor: encodeSequenceCursor(scope, Math.max(after, last)) };
    }
    if (items.length >= limit) return { items, next_cursor: encodeSequenceCursor(scope, after) };
  }
}
