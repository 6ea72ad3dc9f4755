// A sorted set of KV keys packed into front-coded blocks, for the key index (key-index.ts).
// Why not one string per key in a B-tree: the index holds every index key of a bucket, ~90
// characters each, and as separate strings they cost ~128 bytes a key on the V8 heap (measured:
// 300,000 keys, 37 MB) and one object each for every full garbage collection to mark. Sorted keys
// share long prefixes (the kind and parent tokens), so each block keeps its first key whole and
// every later key as the length of the prefix it shares with the key before it plus the rest:
// ~3x smaller, and one object per block instead of one per key.
//
// Keys must be KV keys (CONTRACT §6: `[-/_=.a-zA-Z0-9]`), so "\n" never occurs in them and ends
// each packed key, and every character fits in one byte.

/** Keys per block at most; a fuller block is split in two. A list decodes the blocks it reads. */
const MAX_BLOCK_KEYS = 32;
/** A block this small is merged into its successor when both fit in one. */
const MIN_BLOCK_KEYS = MAX_BLOCK_KEYS / 4;
/** The shared-prefix length is one character (0-255); longer shared prefixes share 255. */
const MAX_SHARED = 255;
const END = "\n";

class Block {
  constructor(
    /** The block's smallest key, whole. */
    readonly first: string,
    /** The keys after the first: per key, a shared-length character, the rest, and END. */
    readonly packed: string,
    readonly count: number,
  ) {}

  withFirst(first: string, packed: string, added: number): Block {
    return new Block(flat(first), flat(packed), this.count + added);
  }

  withPacked(packed: string, added: number): Block {
    return new Block(this.first, flat(packed), this.count + added);
  }
}

/**
 * A flat one-byte copy that holds no reference to the strings it was made of: V8 keeps
 * concatenations and slices as views of their parts, which would keep old blocks alive.
 */
function flat(text: string): string {
  return Buffer.from(text, "latin1").toString("latin1");
}

export class PackedKeys {
  /** Blocks in key order; every key of a block is below the next block's first key. */
  private blocks: Block[] = [];
  private total = 0;

  get size(): number {
    return this.total;
  }

  has(key: string): boolean {
    const at = this.blockOf(key);
    return at >= 0 && locate(this.blockAt(at), key).found;
  }

  /**
   * Adds `key`; a no-op when it is present. Only the new key's entry and its successor's are
   * written: the rest of the block is copied as it is, no key of it is rebuilt.
   */
  add(key: string): void {
    if (this.blocks.length === 0) {
      this.blocks.push(encode([key]));
      this.total = 1;
      return;
    }
    const at = Math.max(0, this.blockOf(key));
    const block = this.blockAt(at);
    const position = locate(block, key);
    if (position.found) return;
    this.total += 1;
    if (block.count >= MAX_BLOCK_KEYS) {
      const keys = decode(block);
      keys.splice(position.index, 0, key);
      const half = keys.length >> 1;
      this.blocks.splice(at, 1, encode(keys.slice(0, half)), encode(keys.slice(half)));
      return;
    }
    const { packed } = block;
    const { index, start, end } = position;
    if (index === 0) {
      this.blocks[at] = block.withFirst(key, entry(key, block.first) + packed, 1);
      return;
    }
    // The key's entry against the key before it, then the displaced entry against the key.
    const shared = Math.min(position.sharedBefore, MAX_SHARED);
    const added = String.fromCharCode(shared) + key.slice(shared) + END;
    let displaced = "";
    if (start < packed.length) {
      const sharedAfter = Math.min(position.sharedAt, MAX_SHARED);
      const written = packed.charCodeAt(start);
      displaced =
        String.fromCharCode(sharedAfter) + packed.slice(start + 1 + sharedAfter - written, end);
    }
    this.blocks[at] = block.withPacked(
      packed.slice(0, start) + added + displaced + packed.slice(end),
      1,
    );
  }

  /** Removes `key`; false when it was absent. */
  delete(key: string): boolean {
    const at = this.blockOf(key);
    if (at < 0) return false;
    const block = this.blockAt(at);
    const position = locate(block, key);
    if (!position.found) return false;
    this.total -= 1;
    const next = this.blocks[at + 1];
    if (block.count === 1) {
      this.blocks.splice(at, 1);
      return true;
    }
    if (
      block.count - 1 < MIN_BLOCK_KEYS &&
      next !== undefined &&
      block.count - 1 + next.count <= MAX_BLOCK_KEYS
    ) {
      const keys = decode(block);
      keys.splice(position.index, 1);
      this.blocks.splice(at, 2, encode([...keys, ...decode(next)]));
      return true;
    }
    const { packed } = block;
    const { index, start, end } = position;
    if (index === 0) {
      // The second key becomes the first, whole; the entries after it still hold.
      const secondEnd = packed.indexOf(END, 1);
      const second = block.first.slice(0, packed.charCodeAt(0)) + packed.slice(1, secondEnd);
      this.blocks[at] = block.withFirst(second, packed.slice(secondEnd + 1), -1);
      return true;
    }
    if (end >= packed.length) {
      this.blocks[at] = block.withPacked(packed.slice(0, start), -1);
      return true;
    }
    // The entry after the removed key was written against it: rewrite it against the key before
    // (sorted keys: what the two share is the shorter of what each shares with the removed one).
    const removedShared = packed.charCodeAt(start);
    const followingShared = packed.charCodeAt(end);
    const followingEnd = packed.indexOf(END, end + 1) + 1;
    const bridged =
      removedShared < followingShared
        ? packed.slice(start + 1, start + 1 + followingShared - removedShared)
        : "";
    const rewritten =
      String.fromCharCode(Math.min(removedShared, followingShared)) +
      bridged +
      packed.slice(end + 1, followingEnd);
    this.blocks[at] = block.withPacked(
      packed.slice(0, start) + rewritten + packed.slice(followingEnd),
      -1,
    );
    return true;
  }

  /** Keys from `start` on (all keys when undefined), in order. */
  *from(start?: string): Generator<string> {
    let at = start === undefined ? 0 : Math.max(0, this.blockOf(start));
    for (; at < this.blocks.length; at++) {
      for (const key of decode(this.blockAt(at))) {
        if (start === undefined || key >= start) yield key;
      }
    }
  }

  private blockAt(at: number): Block {
    const block = this.blocks[at];
    if (block === undefined) throw new RangeError(`no block ${at}`);
    return block;
  }

  /** The last block whose first key is at or below `key`, or -1 when `key` precedes them all. */
  private blockOf(key: string): number {
    let low = 0;
    let high = this.blocks.length - 1;
    let result = -1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      if (this.blockAt(middle).first <= key) {
        result = middle;
        low = middle + 1;
      } else {
        high = middle - 1;
      }
    }
    return result;
  }
}

function sharedLength(a: string, b: string): number {
  const limit = Math.min(a.length, b.length, MAX_SHARED);
  let n = 0;
  while (n < limit && a.charCodeAt(n) === b.charCodeAt(n)) n++;
  return n;
}

/**
 * Packs sorted, non-empty `keys`. The strings are built through a Buffer so that they are flat
 * one-byte strings holding no reference to the keys they came from (V8 keeps concatenations and
 * slices as views of their parts).
 */
function encode(keys: readonly string[]): Block {
  const first = keys[0] as string;
  let bytes = 0;
  for (let i = 1; i < keys.length; i++) bytes += (keys[i] as string).length + 2;
  const buffer = Buffer.allocUnsafe(bytes);
  let offset = 0;
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i] as string;
    const shared = sharedLength(keys[i - 1] as string, key);
    buffer[offset++] = shared;
    offset += buffer.write(key.slice(shared), offset, "latin1");
    buffer[offset++] = 10; // END
  }
  return new Block(flat(first), buffer.toString("latin1", 0, offset), keys.length);
}

/** One packed entry: `key` written against the key before it. */
function entry(before: string, key: string): string {
  const shared = sharedLength(before, key);
  return String.fromCharCode(shared) + key.slice(shared) + END;
}

interface Position {
  /** The index of the first key at or above the one looked for (count when none is). */
  index: number;
  /** Whether the key at `index` is the one looked for. */
  found: boolean;
  /** Where the entry of the key at `index` starts and ends in `packed` (index >= 1). */
  start: number;
  end: number;
  /** How many leading characters the key looked for shares with the key before `index`... */
  sharedBefore: number;
  /** ...and with the key at `index`. */
  sharedAt: number;
}

/**
 * Where `key` is or would go in `block`, found by the usual search of a front-coded list: the
 * characters shared with the key before tell, entry by entry, whether the next key sorts before
 * or after `key` without rebuilding it; only where they tie are characters compared. Nothing is
 * allocated.
 */
function locate(block: Block, key: string): Position {
  const { first, packed } = block;
  let matched = commonLength(key, 0, first, 0, first.length);
  if (key <= first) {
    const found = key === first;
    return { index: 0, found, start: 0, end: 0, sharedBefore: 0, sharedAt: matched };
  }
  let index = 1;
  for (let at = 0; at < packed.length; index++) {
    const shared = packed.charCodeAt(at);
    const end = packed.indexOf(END, at + 1);
    const stop = (found: boolean, sharedAt: number): Position => ({
      index,
      found,
      start: at,
      end: end + 1,
      sharedBefore: matched,
      sharedAt,
    });
    // This key leaves the previous one earlier than `key` does, and sorts above it: after it.
    if (shared < matched && shared < MAX_SHARED) return stop(false, shared);
    if (shared <= matched) {
      // Tied so far: compare the rest of `key` with the rest of this key.
      const length = commonLength(key, shared, packed, at + 1, end - at - 1);
      const keyEnded = length === key.length;
      const entryEnded = length - shared === end - at - 1;
      if (keyEnded && entryEnded) return stop(true, length);
      if (
        keyEnded ||
        (!entryEnded && key.charCodeAt(length) < packed.charCodeAt(at + 1 + length - shared))
      ) {
        return stop(false, length);
      }
      matched = length;
    }
    // Otherwise this key shares more with the previous one than `key` does: it sorts below too.
    at = end + 1;
  }
  return {
    index,
    found: false,
    start: packed.length,
    end: packed.length,
    sharedBefore: matched,
    sharedAt: 0,
  };
}

/**
 * The length of the prefix `key` shares with a key that equals it up to `from` and continues
 * with `available` characters of `text` from `offset`.
 */
function commonLength(
  key: string,
  from: number,
  text: string,
  offset: number,
  available: number,
): number {
  let n = 0;
  while (
    from + n < key.length &&
    n < available &&
    key.charCodeAt(from + n) === text.charCodeAt(offset + n)
  )
    n++;
  return from + n;
}

/** The block's keys as flat strings: each is rebuilt in a scratch buffer, then copied out once. */
function decode(block: Block): string[] {
  const { first, packed } = block;
  const keys: string[] = [first];
  if (packed.length === 0) return keys;
  const scratch = Buffer.allocUnsafe(first.length + packed.length);
  let length = scratch.write(first, 0, "latin1");
  for (let at = 0; at < packed.length;) {
    length = packed.charCodeAt(at);
    const end = packed.indexOf(END, at + 1);
    length += scratch.write(packed.slice(at + 1, end), length, "latin1");
    keys.push(scratch.toString("latin1", 0, length));
    at = end + 1;
  }
  return keys;
}
