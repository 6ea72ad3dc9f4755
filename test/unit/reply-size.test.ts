import { fitReply } from "../../src/rpc/reply-size.js";

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
