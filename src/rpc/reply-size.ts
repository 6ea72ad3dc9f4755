// Fitting a reply to the server's max payload: a reply larger than it cannot be sent at all.
// (Pages of a bucket's list are cut while they are read, store/kv/paging.ts.)
import { REPLY_ENVELOPE_BYTES } from "../store/kv/paging.js";

/** The longest head of `items` whose page reply fits in `maxReplyBytes` (at least one item). */
export function fitReply<T>(items: readonly T[], maxReplyBytes: number): T[] {
  let bytes = REPLY_ENVELOPE_BYTES;
  for (const [i, item] of items.entries()) {
    bytes += Buffer.byteLength(JSON.stringify(item)) + 1;
    if (bytes > maxReplyBytes && i > 0) return items.slice(0, i);
  }
  return [...items];
}
