// The docs/CONTRACT.md §3 error taxonomy: five codes with one status each, and one translation of
// any thrown value into the wire error, which never leaks a foreign message.

import fc from "fast-check";
import {
  AppError,
  DEFAULT_RETRY_AFTER_MS,
  STATUS_BY_CODE,
  asAppError,
  conflict,
  internal,
  invalidField,
  invalidRequest,
  notFound,
  staleRevision,
  toWireError,
  unavailable,
  type ErrorCode,
} from "../../src/errors.js";

const EXPECTED_STATUS: Record<ErrorCode, number> = {
  invalid_request: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  unavailable: 503,
  internal: 500,
};
const CODES = Object.keys(EXPECTED_STATUS) as ErrorCode[];

describe("codes and statuses", () => {
  test("the table holds exactly the seven codes of the contract", () => {
    expect(STATUS_BY_CODE).toEqual(EXPECTED_STATUS);
  });

  test.each(CODES)(
    "an AppError with code %s has its status, on the error and on the wire",
    (code) => {
      const err = new AppError(code, "something");
      expect(err.status).toBe(EXPECTED_STATUS[code]);
      expect(err).toBeInstanceOf(Error);
      expect(err.name).toBe("AppError");
      const wire = toWireError(err);
      expect(wire.status).toBe(EXPECTED_STATUS[code]);
      expect(wire.body.error.status).toBe(EXPECTED_STATUS[code]);
      expect(wire.body.error.code).toBe(code);
    },
  );
});

describe("constructors", () => {
  test("invalidRequest keeps its details", () => {
    const details = [{ path: "/email", message: "must match format email" }];
    const err = invalidRequest("bad request", details);
    expect(err.code).toBe("invalid_request");
    expect(err.status).toBe(400);
    expect(err.message).toBe("bad request");
    expect(err.details).toEqual(details);
  });

  test("invalidField names the field in the message and in the details", () => {
    const err = invalidField("/end_time", "must be after start_time");
    expect(err.code).toBe("invalid_request");
    expect(err.message).toBe("/end_time: must be after start_time");
    expect(err.details).toEqual([{ path: "/end_time", message: "must be after start_time" }]);
  });

  test("notFound names the entity and its uid", () => {
    const err = notFound("meeting", "M1");
    expect(err.code).toBe("not_found");
    expect(err.status).toBe(404);
    expect(err.message).toBe("meeting M1 not found");
  });

  test("conflict and staleRevision are conflicts; conflict keeps its cause", () => {
    const cause = new Error("wrong last sequence");
    const err = conflict("registrant already exists", cause);
    expect(err.code).toBe("conflict");
    expect(err.status).toBe(409);
    expect(err.cause).toBe(cause);
    const stale = staleRevision("meeting", "M1");
    expect(stale.code).toBe("conflict");
    expect(stale.message).toContain("meeting M1");
    expect(stale.message).toContain("stale");
  });

  test("unavailable carries a retry hint, by default and when given", () => {
    const cause = new Error("timeout");
    const byDefault = unavailable("storage is unavailable", cause);
    expect(byDefault.code).toBe("unavailable");
    expect(byDefault.status).toBe(503);
    expect(byDefault.cause).toBe(cause);
    expect(byDefault.retryAfterMs).toBe(DEFAULT_RETRY_AFTER_MS);
    expect(unavailable("storage is unavailable", cause, 250).retryAfterMs).toBe(250);
  });

  test("internal hides its cause behind a generic message", () => {
    const cause = new Error("ECONNRESET at db.internal:5432");
    const err = internal(cause);
    expect(err.code).toBe("internal");
    expect(err.status).toBe(500);
    expect(err.message).toBe("internal error");
    expect(err.cause).toBe(cause);
  });

  test("asAppError passes an AppError through and wraps anything else as internal", () => {
    const known = notFound("meeting", "M1");
    expect(asAppError(known)).toBe(known);
    const foreign = new TypeError("x is undefined");
    const wrapped = asAppError(foreign);
    expect(wrapped.code).toBe("internal");
    expect(wrapped.cause).toBe(foreign);
  });
});

describe("toWireError", () => {
  test("an invalid request keeps its details in the body", () => {
    const details = [
      { path: "/email", message: "must match format email" },
      { path: "", message: "must NOT have additional properties (foo)" },
    ];
    expect(toWireError(invalidRequest("request is invalid", details))).toEqual({
      status: 400,
      message: "request is invalid",
      body: {
        error: { status: 400, code: "invalid_request", message: "request is invalid", details },
      },
    });
  });

  test("empty details are left out", () => {
    expect(toWireError(invalidRequest("request is invalid", [])).body).toEqual({
      error: { status: 400, code: "invalid_request", message: "request is invalid" },
    });
  });

  test("a not-found has neither details nor a retry hint", () => {
    expect(toWireError(notFound("meeting", "M1"))).toEqual({
      status: 404,
      message: "meeting M1 not found",
      body: { error: { status: 404, code: "not_found", message: "meeting M1 not found" } },
    });
  });

  test("unavailable always carries retry_after_ms", () => {
    expect(toWireError(unavailable("storage is unavailable", undefined, 250)).body).toEqual({
      error: {
        status: 503,
        code: "unavailable",
        message: "storage is unavailable",
        retry_after_ms: 250,
      },
    });
    // Built without a hint, it still gets the default one.
    const bare = toWireError(new AppError("unavailable", "storage is unavailable"));
    expect(bare.body.error.retry_after_ms).toBe(DEFAULT_RETRY_AFTER_MS);
  });

  test.each(CODES.filter((code) => code !== "unavailable"))(
    "%s never carries retry_after_ms, even when one was given",
    (code) => {
      const err = new AppError(code, "something", undefined, { retryAfterMs: 10 });
      expect(toWireError(err).body.error).not.toHaveProperty("retry_after_ms");
    },
  );

  test.each([
    ["an Error", new Error("password=hunter2 in /srv/app/db.ts")],
    ["a TypeError", new TypeError("Cannot read properties of undefined (reading 'uid')")],
    ["a string", "password=hunter2"],
    ["undefined", undefined],
    ["null", null],
    ["an object", { message: "password=hunter2" }],
  ])("%s becomes a 500 internal that says nothing more", (_label, thrown) => {
    const wire = toWireError(thrown);
    expect(wire).toEqual({
      status: 500,
      message: "internal error",
      body: { error: { status: 500, code: "internal", message: "internal error" } },
    });
    expect(JSON.stringify(wire)).not.toContain("hunter2");
  });

  test("anything that is not an AppError becomes the same generic internal error", () => {
    fc.assert(
      fc.property(fc.anything(), (thrown) => {
        expect(toWireError(thrown)).toEqual({
          status: 500,
          message: "internal error",
          body: { error: { status: 500, code: "internal", message: "internal error" } },
        });
      }),
    );
  });

  test("the body survives JSON", () => {
    const body = toWireError(unavailable("storage is unavailable")).body;
    expect(JSON.parse(JSON.stringify(body))).toEqual(body);
  });
});
