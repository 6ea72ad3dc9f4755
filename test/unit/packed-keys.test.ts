// The key index's packed sorted set against a plain sorted array: any sequence of adds and
// deletes leaves the same keys, in the same order, from any start.
import fc from "fast-check";
import { PackedKeys } from "../../src/store/packed-keys.js";

// KV key characters, few of them, so that keys collide, share long prefixes and sort closely.
const token = fc.string({
  unit: fc.constantFrom("a", "b", "Z", "0", "-", "_", "/", "="),
  minLength: 1,
  maxLength: 6,
});
const key = fc.oneof(
  fc.array(token, { minLength: 1, maxLength: 4 }).map((tokens) => tokens.join(".")),
  // Longer than the 255 characters a shared prefix can record.
  fc.tuple(fc.constantFrom("p".repeat(300), "q".repeat(260)), token).map(([a, b]) => `${a}.${b}`),
);
const operation = fc.tuple(fc.boolean(), key);

function reference(operations: ReadonlyArray<readonly [boolean, string]>): string[] {
  const keys = new Set<string>();
  for (const [add, k] of operations) {
    if (add) keys.add(k);
    else keys.delete(k);
  }
  return [...keys].sort();
}

test("holds what a sorted set holds after any adds and deletes", () => {
  fc.assert(
    fc.property(fc.array(operation, { maxLength: 400 }), key, (operations, start) => {
      const packed = new PackedKeys();
      for (const [add, k] of operations) {
        if (add) packed.add(k);
        else packed.delete(k);
      }
      const expected = reference(operations);
      expect([...packed.from()]).toEqual(expected);
      expect(packed.size).toBe(expected.length);
      expect([...packed.from(start)]).toEqual(expected.filter((k) => k >= start));
      for (const k of expected) expect(packed.has(k)).toBe(true);
      expect(packed.has(start)).toBe(expected.includes(start));
    }),
    { numRuns: 300 },
  );
});

test("delete reports whether the key was there", () => {
  const packed = new PackedKeys();
  packed.add("a.b");
  expect(packed.delete("a.c")).toBe(false);
  expect(packed.delete("a.b")).toBe(true);
  expect(packed.delete("a.b")).toBe(false);
  expect(packed.size).toBe(0);
  expect([...packed.from()]).toEqual([]);
});

test("splits and merges blocks across thousands of keys in any order", () => {
  const keys = Array.from({ length: 5000 }, (_, n) => `index.meeting.m${n % 97}.u${n}`);
  const shuffled = [...keys].sort(() => Math.random() - 0.5);
  const packed = new PackedKeys();
  for (const k of shuffled) packed.add(k);
  expect([...packed.from()]).toEqual([...keys].sort());
  const kept = keys.filter((_, n) => n % 3 === 0).sort();
  for (const k of shuffled) if (!kept.includes(k)) packed.delete(k);
  expect([...packed.from()]).toEqual(kept);
  expect([...packed.from("index.meeting.m5.")].slice(0, 2)).toEqual(
    kept.filter((k) => k >= "index.meeting.m5.").slice(0, 2),
  );
});
