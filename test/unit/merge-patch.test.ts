import fc from "fast-check";
import { applyMergePatch, jsonEqual } from "../../src/domain/merge-patch.js";

describe("applyMergePatch (RFC 7396)", () => {
  // The examples of RFC 7396, appendix A.
  it.each([
    [{ a: "b" }, { a: "c" }, { a: "c" }],
    [{ a: "b" }, { b: "c" }, { a: "b", b: "c" }],
    [{ a: "b" }, { a: null }, {}],
    [{ a: "b", b: "c" }, { a: null }, { b: "c" }],
    [{ a: ["b"] }, { a: "c" }, { a: "c" }],
    [{ a: "c" }, { a: ["b"] }, { a: ["b"] }],
    [{ a: { b: "c" } }, { a: { b: "d", c: null } }, { a: { b: "d" } }],
    [{ a: [{ b: "c" }] }, { a: [1] }, { a: [1] }],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ])("patches %j with %j into %j", (target, patch, expected) => {
    expect(applyMergePatch(target, patch)).toEqual(expected);
  });

  it("does not mutate its inputs", () => {
    const target = { zoom_config: { meeting_id: "1", passcode: "x" } };
    const patch = { zoom_config: { passcode: null } };
    const result = applyMergePatch(target, patch);
    expect(result).toEqual({ zoom_config: { meeting_id: "1" } });
    expect(target).toEqual({ zoom_config: { meeting_id: "1", passcode: "x" } });
    expect(patch).toEqual({ zoom_config: { passcode: null } });
  });

  it("is idempotent: applying a patch twice equals applying it once", () => {
    const json = fc.jsonValue();
    const object = fc.dictionary(fc.string(), json);
    fc.assert(
      fc.property(object, object, (target, patch) => {
        const once = applyMergePatch(target, patch);
        return jsonEqual(applyMergePatch(once, patch), once);
      }),
    );
  });
});

describe("jsonEqual", () => {
  it("ignores key order and compares deeply", () => {
    expect(jsonEqual({ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 })).toBe(true);
    expect(jsonEqual({ a: 1 }, { a: 1, b: undefined })).toBe(false);
    expect(jsonEqual([1, 2], [2, 1])).toBe(false);
    expect(jsonEqual({ a: null }, { a: 0 })).toBe(false);
  });
});
