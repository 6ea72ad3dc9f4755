// Cursor pagination over key ranges (CONTRACT §3 "List"). A cursor is opaque to clients: the last
// physical key of the page, bound to the list's filters so that it cannot be replayed against
// another list. Paging walks keys in order, so every item is returned exactly once when nothing
// changes in between; pages are also cut to fit the server's max payload.
import { invalidField } from "../errors.js";

interface CursorState {
  /** The list (subject and filters) the cursor belongs to. */
  s: string;
  /** The last key of the previous page. */
  k: string;
}

export function encodeCursor(scope: string, lastKey: string): string {
  const state: CursorState = { s: scope, k: lastKey };
  return Buffer.from(JSON.stringify(state), "utf8").toString("base64url");
}

export function decodeCursor(scope: string, cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  let state: unknown;
  try {
    state = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw invalidField("/cursor", "is not a cursor returned by this list");
  }
  const { s, k } = (state ?? {}) as Partial<CursorState>;
  if (typeof s !== "string" || typeof k !== "string" || k.length === 0) {
    throw invalidField("/cursor", "is not a cursor returned by this list");
  }
  if (s !== scope) throw invalidField("/cursor", "belongs to a list with other filters");
  return k;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface PageQuery<T> {
  /** Identifies the list and its filters, e.g. "meetings.list|project=...". */
  scope: string;
  limit: number;
  cursor: string | undefined;
  /** Keys in order after `after` (exclusive), at most `count`. */
  keys(after: string | undefined, count: number): Promise<string[]>;
  /** The item behind a key, or null to skip it (gone, or no longer matching the filters). */
  load(key: string): Promise<T | null>;
  /** Upper bound of a reply's size in bytes. */
  maxReplyBytes: number;
}

const REPLY_ENVELOPE_BYTES = 1024;

/** The longest head of `items` whose page reply fits in `maxReplyBytes` (at least one item). */
export function fitReply<T>(items: readonly T[], maxReplyBytes: number): T[] {
  let bytes = REPLY_ENVELOPE_BYTES;
  for (const [i, item] of items.entries()) {
    bytes += Buffer.byteLength(JSON.stringify(item)) + 1;
    if (bytes > maxReplyBytes && i > 0) return items.slice(0, i);
  }
  return [...items];
}

export async function readPage<T>(query: PageQuery<T>): Promise<Page<T>> {
  const { limit, maxReplyBytes } = query;
  let after = decodeCursor(query.scope, query.cursor);
  const items: T[] = [];
  let bytes = REPLY_ENVELOPE_BYTES;
  let lastKey: string | undefined;
  for (;;) {
    const wanted = limit - items.length;
    // One key more than needed tells whether anything follows the page.
    const keys = await query.keys(after, wanted + 1);
    const batch = keys.slice(0, wanted);
    const loaded = await Promise.all(batch.map((key) => query.load(key)));
    for (const [i, item] of loaded.entries()) {
      if (item === null) continue;
      const size = Buffer.byteLength(JSON.stringify(item)) + 1;
      if (bytes + size > maxReplyBytes && items.length > 0) {
        return {
          items,
          next_cursor: lastKey === undefined ? null : encodeCursor(query.scope, lastKey),
        };
      }
      bytes += size;
      items.push(item);
      lastKey = batch[i];
    }
    const more = keys.length > wanted;
    if (batch.length > 0) lastKey = batch[batch.length - 1];
    if (!more) return { items, next_cursor: null };
    after = lastKey;
    if (items.length >= limit) {
      return { items, next_cursor: encodeCursor(query.scope, after as string) };
    }
  }
}
