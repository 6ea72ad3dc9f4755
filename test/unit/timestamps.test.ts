import { toUtc } from "../../src/domain/timestamps.js";
import { compileUtcNormalizer } from "../../src/rpc/utc-timestamps.js";

describe("toUtc", () => {
  it("keeps UTC timestamps as given and converts other offsets", () => {
    expect(toUtc("2030-01-15T15:00:00Z")).toBe("2030-01-15T15:00:00Z");
    expect(toUtc("2030-01-15T15:00:00.25Z")).toBe("2030-01-15T15:00:00.25Z");
    expect(toUtc("2030-01-15t15:00:00z")).toBe("2030-01-15T15:00:00Z");
    expect(toUtc("2030-01-15T10:00:00-05:00")).toBe("2030-01-15T15:00:00Z");
    expect(toUtc("2030-01-15T16:00:00.500+01:00")).toBe("2030-01-15T15:00:00.500Z");
  });
});

describe("compileUtcNormalizer", () => {
  const schema = {
    type: "object",
    properties: {
      start_time: { type: "string", format: "date-time" },
      title: { type: "string" },
      recurrence: {
        anyOf: [
          {
            type: "object",
            properties: { end_date_time: { type: "string", format: "date-time" } },
          },
          { type: "null" },
        ],
      },
      files: {
        type: "array",
        items: { type: "object", properties: { at: { type: "string", format: "date-time" } } },
      },
    },
  };

  it("converts every date-time the schema declares, wherever it is nested", () => {
    const normalize = compileUtcNormalizer(schema);
    const value = {
      start_time: "2030-01-15T10:00:00-05:00",
      title: "2030-01-15T10:00:00-05:00",
      recurrence: { end_date_time: "2030-02-01T01:00:00+01:00" },
      files: [{ at: "2030-01-15T16:00:00+01:00" }, {}],
    };
    expect(normalize?.(value)).toEqual({
      start_time: "2030-01-15T15:00:00Z",
      title: "2030-01-15T10:00:00-05:00",
      recurrence: { end_date_time: "2030-02-01T00:00:00Z" },
      files: [{ at: "2030-01-15T15:00:00Z" }, {}],
    });
  });

  it("leaves null alternatives alone and has nothing to do for schemas without date-times", () => {
    expect(compileUtcNormalizer(schema)?.({ recurrence: null })).toEqual({ recurrence: null });
    expect(
      compileUtcNormalizer({ type: "object", properties: { uid: { type: "string" } } }),
    ).toBeUndefined();
  });
});
