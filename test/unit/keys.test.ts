// The docs/CONTRACT.md §6 key codec: any string survives as a segment, every segment is one subject
// token, and a key prefix never matches a longer sibling.

import fc from "fast-check";
import { nanoid } from "nanoid";
import {
  decodeKey,
  directKey,
  encodeKey,
  encodeKeyPrefix,
  isDirectKey,
  keyFilter,
} from "../../src/store/kv/keys.js";

const BASE64URL_TOKEN = /^[A-Za-z0-9_-]+$/;
// What the KV client accepts as a key.
const VALID_KV_KEY = /^[-/_=.a-zA-Z0-9]+$/;

function expectValidKvKey(key: string): void {
  expect(key).toMatch(VALID_KV_KEY);
  expect(key.startsWith(".")).toBe(false);
  expect(key.endsWith(".")).toBe(false);
  expect(key).not.toContain("..");
}

// Well-formed strings only: a lone surrogate has no UTF-8 form (it is encoded as U+FFFD), so it
// cannot round-trip.
const segment = fc.oneof(
  fc.string({ unit: "grapheme", minLength: 1 }),
  fc.string({ unit: "binary", minLength: 1 }),
  fc.constantFrom(".", "/", "+", "=", "*", ">", " ", "a.b", "a/b", "\u0000"),
);
const segments = fc.array(segment, { minLength: 1, maxLength: 6 });

// Emails whose standard base64 holds "+" or "/", which KV keys reject (docs/MEASUREMENTS.md "KV
// behaviour").
const HOSTILE_EMAILS = ["a>>b@x.org", "~~~@x.org", "???@x.io", "zoë@example.org"];
const ODD_EMAILS = ["user+tag@example.com", "o'brien/x@x.org", "first.last@sub.example.co.uk"];

describe("encodeKey / decodeKey", () => {
  test("round-trips any segments", () => {
    fc.assert(
      fc.property(segments, (segs) => {
        expect(decodeKey(encodeKey(segs))).toEqual(segs);
      }),
    );
  });

  test("makes one base64url token per segment and a valid KV key", () => {
    fc.assert(
      fc.property(segments, (segs) => {
        const key = encodeKey(segs);
        const tokens = key.split(".");
        expect(tokens).toHaveLength(segs.length);
        for (const token of tokens) expect(token).toMatch(BASE64URL_TOKEN);
        expectValidKvKey(key);
      }),
    );
  });

  test("matches the known vector", () => {
    expect(encodeKey(["index", "meeting", "M"])).toBe("aW5kZXg.bWVldGluZw.TQ");
    expect(decodeKey("aW5kZXg.bWVldGluZw.TQ")).toEqual(["index", "meeting", "M"]);
  });

  test.each([...HOSTILE_EMAILS, ...ODD_EMAILS])("keeps the email %s intact", (email) => {
    const key = encodeKey(["index", "email", email, "r1"]);
    expectValidKvKey(key);
    expect(key.split(".")).toHaveLength(4);
    expect(decodeKey(key)).toEqual(["index", "email", email, "r1"]);
  });

  test("the hostile emails really are hostile to standard base64", () => {
    for (const email of HOSTILE_EMAILS) {
      expect(Buffer.from(email, "utf8").toString("base64")).toMatch(/[+/]/);
    }
  });

  test("refuses an empty key and an empty segment", () => {
    expect(() => encodeKey([])).toThrow(RangeError);
    expect(() => encodeKey([""])).toThrow(RangeError);
    expect(() => encodeKey(["index", "", "x"])).toThrow(RangeError);
  });

  test("refuses to decode a token that is not base64url", () => {
    for (const physical of ["a+b", "a/b", "ab==", "a..b", "", "*", ">"]) {
      expect(() => decodeKey(physical)).toThrow(RangeError);
    }
  });
});

describe("encodeKeyPrefix / keyFilter", () => {
  test("a meeting's prefix does not match the keys of a meeting whose uid extends it", () => {
    const prefix = encodeKeyPrefix(["index", "meeting", "A"]);
    expect(encodeKey(["index", "meeting", "AB", "r1"]).startsWith(prefix)).toBe(false);
    expect(encodeKey(["index", "meeting", "A", "r1"]).startsWith(prefix)).toBe(true);
  });

  test("the trailing separator is what keeps uids of 3n characters apart", () => {
    // base64 of "ABC" is a prefix of base64 of "ABCD": only the "." separates them.
    expect(encodeKey(["ABCD"]).startsWith(encodeKey(["ABC"]))).toBe(true);
    const prefix = encodeKeyPrefix(["index", "meeting", "ABC"]);
    expect(encodeKey(["index", "meeting", "ABCD", "r1"]).startsWith(prefix)).toBe(false);
  });

  test("a prefix matches exactly the keys under the same segments", () => {
    fc.assert(
      fc.property(segment, segment, segment, (a, b, rest) => {
        const prefix = encodeKeyPrefix(["index", "meeting", a]);
        expect(encodeKey(["index", "meeting", a, rest]).startsWith(prefix)).toBe(true);
        expect(encodeKey(["index", "meeting", b, rest]).startsWith(prefix)).toBe(a === b);
      }),
    );
  });

  test("keyFilter is the prefix followed by the multi-token wildcard", () => {
    expect(keyFilter(["index", "meeting", "M"])).toBe("aW5kZXg.bWVldGluZw.TQ.>");
  });
});

describe("directKey", () => {
  test("accepts nanoids as they are", () => {
    for (let i = 0; i < 100; i += 1) {
      const uid = nanoid();
      expect(directKey(uid)).toBe(uid);
      expect(isDirectKey(uid)).toBe(true);
    }
    expect(directKey("a".repeat(128))).toBe("a".repeat(128));
  });

  test.each(["a.b", "*", ">", "a/b", "", "a b", "a".repeat(129), "zoë", "a=b"])(
    "refuses %j",
    (uid) => {
      expect(() => directKey(uid)).toThrow(RangeError);
      expect(isDirectKey(uid)).toBe(false);
    },
  );
});
