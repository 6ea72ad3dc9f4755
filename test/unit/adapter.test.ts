import { parseRequest, schemaViolation } from "../../src/rpc/adapter.js";
import { AppError } from "../../src/errors.js";

const bytes = (text: string) => new TextEncoder().encode(text);

function failure(data: Uint8Array): AppError {
  try {
    parseRequest(data);
  } catch (err) {
    if (err instanceof AppError) return err;
  }
  throw new Error("expected an AppError");
}

describe("parseRequest", () => {
  it("accepts a JSON object", () => {
    expect(parseRequest(bytes('{"uid":"a"}'))).toEqual({ uid: "a" });
  });

  it.each([
    ["empty", bytes(""), /empty/],
    ["not JSON", bytes("{"), /not valid JSON/],
    ["null", bytes("null"), /JSON object/],
    ["an array", bytes("[1]"), /JSON object/],
    ["a number", bytes("42"), /JSON object/],
    ["invalid UTF-8", new Uint8Array([0x7b, 0xff, 0x7d]), /UTF-8/],
  ])("answers %s with invalid_request", (_label, data, message) => {
    const err = failure(data);
    expect(err.code).toBe("invalid_request");
    expect(err.message).toMatch(message);
  });
});

describe("schemaViolation", () => {
  it("names every field in the message and keeps the details", () => {
    const details = [
      { path: "/title", message: "is required" },
      { path: "/colour", message: "is not an allowed property" },
    ];
    const err = schemaViolation(details);
    expect(err.status).toBe(400);
    expect(err.message).toBe(
      "invalid request: /title is required; /colour is not an allowed property",
    );
    expect(err.details).toEqual(details);
  });
});
