import { AppError } from "../../src/errors.js";
import type { ListedKey } from "../../src/store/kv/kv-repository.js";
import {
  decodeCursor,
  decodeSequenceCursor,
  encodeCursor,
  encodeSequenceCursor,
  readPage,
} from "../../src/store/kv/paging.js";

const keys = Array.from({ length: 25 }, (_, i) => `k${String(i).padStart(3, "0")}`);

/**
 * A stream holding `all` in order (sequences 2, 4, 6, ...), each key written once, and
 * `rewritten` keys written again at its end: their first messages are no longer current.
 */
function source(
  all: string[],
  missing: ReadonlySet<string> = new Set(),
  rewritten: readonly string[] = [],
  cutAfter = Infinity,
) {
  const stream: ListedKey[] = [...all, ...rewritten].map((key, i) => ({ key, seq: 2 * (i + 1) }));
  const latest = new Map(stream.map((listed) => [listed.key, listed.seq]));
  return {
    source: {
      keys: (after: number, count: number) => {
        const following = stream.filter((listed) => listed.seq > after);
        // A read cut short (stream-pages.ts) returns fewer keys without ending the list.
        const keys = following.slice(0, Math.min(count, cutAfter));
        const ended = keys.length === following.length;
        return Promise.resolve({ keys, ended, last: keys.at(-1)?.seq ?? after });
      },
      isCurrent: (listed: ListedKey) => Promise.resolve(latest.get(listed.key) === listed.seq),
    },
    load: (key: string) => Promise.resolve(missing.has(key) ? null : { key }),
  };
}

async function readAll(
  limit: number,
  missing?: ReadonlySet<string>,
  maxReplyBytes = 1 << 20,
  rewritten?: readonly string[],
  cutAfter?: number,
) {
  const seen: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await readPage({
      scope: "s",
      limit,
      cursor,
      maxReplyBytes,
      ...source(keys, missing, rewritten, cutAfter),
    });
    expect(page.items.length).toBeLessThanOrEqual(limit);
    seen.push(...page.items.map((item) => item.key));
    cursor = page.next_cursor ?? undefined;
    pages += 1;
  } while (cursor !== undefined);
  return { seen, pages };
}

describe("readPage", () => {
  it.each([1, 3, 24, 25, 26, 100])(
    "returns every item exactly once with limit %i",
    async (limit) => {
      const { seen, pages } = await readAll(limit);
      expect(seen).toEqual(keys);
      expect(pages).toBe(Math.max(1, Math.ceil(keys.length / limit)));
    },
  );

  it("skips items that are gone without losing the ones after them", async () => {
    const missing = new Set(["k003", "k004", "k005", "k020"]);
    const { seen } = await readAll(3, missing);
    expect(seen).toEqual(keys.filter((k) => !missing.has(k)));
  });

  it("returns a key written again once, where its latest message is", async () => {
    const { seen } = await readAll(1, undefined, 1 << 20, ["k002", "k010"]);
    const moved = keys.filter((k) => k !== "k002" && k !== "k010");
    expect(seen).toEqual([...moved, "k002", "k010"]);
  });

  it("goes on after a read cut short, with a shorter page", async () => {
    const { seen, pages } = await readAll(10, undefined, 1 << 20, undefined, 4);
    expect(seen).toEqual(keys);
    expect(pages).toBe(Math.ceil(keys.length / 4));
  });

  it("cuts a page to fit the reply size and continues on the next", async () => {
    const { seen, pages } = await readAll(100, undefined, 1024 + 15 * 5);
    expect(seen).toEqual(keys);
    expect(pages).toBeGreaterThan(1);
  });

  it("ends with a null cursor on the last page", async () => {
    const page = await readPage({
      scope: "s",
      limit: 100,
      cursor: undefined,
      maxReplyBytes: 1 << 20,
      ...source(keys),
    });
    expect(page.next_cursor).toBeNull();
  });
});

describe("cursors", () => {
  it("round-trip within their list", () => {
    expect(decodeCursor("a", encodeCursor("a", "k1"))).toBe("k1");
    expect(decodeSequenceCursor("a", encodeSequenceCursor("a", 42))).toBe(42);
    expect(decodeSequenceCursor("a", undefined)).toBe(0);
  });

  const notCursors = [
    "garbage!",
    "e30",
    "bnVsbA",
    Buffer.from('{"s":"a"}').toString("base64url"),
    Buffer.from('{"s":"a","q":0}').toString("base64url"),
    Buffer.from('{"s":"a","q":"7"}').toString("base64url"),
    Buffer.from('{"s":"a","q":1.5}').toString("base64url"),
  ];

  it.each(notCursors)("reject %j as a 400 naming /cursor", (cursor) => {
    for (const decode of [decodeCursor, decodeSequenceCursor]) {
      let failure: unknown;
      try {
        decode("a", cursor);
      } catch (err) {
        failure = err;
      }
      expect(failure).toBeInstanceOf(AppError);
      expect((failure as AppError).code).toBe("invalid_request");
      expect((failure as AppError).details?.map((d) => d.path)).toEqual(["/cursor"]);
    }
  });

  it("refuse a cursor of another list", () => {
    expect(() => decodeCursor("b", encodeCursor("a", "k1"))).toThrow(/other filters/);
    expect(() => decodeSequenceCursor("b", encodeSequenceCursor("a", 1))).toThrow(/other filters/);
  });
});
