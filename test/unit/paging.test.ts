import { AppError } from "../../src/errors.js";
import { decodeCursor, encodeCursor, fitReply, readPage } from "../../src/store/paging.js";

const keys = Array.from({ length: 25 }, (_, i) => `k${String(i).padStart(3, "0")}`);

function source(all: string[], missing: ReadonlySet<string> = new Set()) {
  return {
    keys: (after: string | undefined, count: number) =>
      Promise.resolve(all.filter((k) => after === undefined || k > after).slice(0, count)),
    load: (key: string) => Promise.resolve(missing.has(key) ? null : { key }),
  };
}

async function readAll(limit: number, missing?: ReadonlySet<string>, maxReplyBytes = 1 << 20) {
  const seen: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await readPage({
      scope: "s",
      limit,
      cursor,
      maxReplyBytes,
      ...source(keys, missing),
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
  });

  it.each(["garbage!", "e30", Buffer.from('{"s":"a"}').toString("base64url")])(
    "reject %j as a 400 naming /cursor",
    (cursor) => {
      let failure: unknown;
      try {
        decodeCursor("a", cursor);
      } catch (err) {
        failure = err;
      }
      expect(failure).toBeInstanceOf(AppError);
      expect((failure as AppError).code).toBe("invalid_request");
      expect((failure as AppError).details?.map((d) => d.path)).toEqual(["/cursor"]);
    },
  );

  it("refuse a cursor of another list", () => {
    expect(() => decodeCursor("b", encodeCursor("a", "k1"))).toThrow(/other filters/);
  });
});

describe("fitReply", () => {
  const items = Array.from({ length: 100 }, (_, i) => ({ i, text: "x".repeat(1000) }));

  it("keeps the longest head that fits, and at least one item", () => {
    const fitted = fitReply(items, 20_000);
    expect(fitted).toEqual(items.slice(0, fitted.length));
    expect(fitted.length).toBeGreaterThan(10);
    expect(fitted.length).toBeLessThan(20);
    expect(Buffer.byteLength(JSON.stringify({ items: fitted }))).toBeLessThan(20_000);
    expect(fitReply(items, 10)).toEqual([items[0]]);
    expect(fitReply(items, 1 << 20)).toEqual(items);
  });
});
