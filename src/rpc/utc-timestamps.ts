// Every date-time a client sends is stored and replied in UTC (docs/CONTRACT.md §3: timestamps are
// RFC 3339 in UTC). Rather than each handler converting its own fields, the adapter converts
// every value its request schema declares `format: date-time`, found by walking the bundled
// schema once at start.
import { toUtc } from "../domain/timestamps.js";

type Schema = Record<string, unknown>;
/** Rewrites the date-times inside a validated value, in place; returns the value. */
export type Normalizer = (value: unknown) => unknown;

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);

/** The normalizer of a (bundled, $ref-free) schema, or undefined when it holds no date-time. */
export function compileUtcNormalizer(schema: unknown): Normalizer | undefined {
  if (!isObject(schema)) return undefined;
  const steps: Normalizer[] = [];

  if (schema["format"] === "date-time") {
    steps.push((value) => (typeof value === "string" ? toUtc(value) : value));
  }
  const properties = schema["properties"];
  if (isObject(properties)) {
    const fields = Object.entries(properties).flatMap(([name, property]) => {
      const normalize = compileUtcNormalizer(property);
      return normalize === undefined ? [] : [[name, normalize] as const];
    });
    if (fields.length > 0) {
      steps.push((value) => {
        if (!isObject(value)) return value;
        for (const [name, normalize] of fields) {
          if (value[name] !== undefined) value[name] = normalize(value[name]);
        }
        return value;
      });
    }
  }
  const items = compileUtcNormalizer(schema["items"]);
  if (items !== undefined) {
    steps.push((value) => (Array.isArray(value) ? value.map(items) : value));
  }
  // Alternatives (nullable fields are `anyOf: [X, null]`): each step acts only on values of its
  // own shape, so applying every branch's is safe.
  for (const keyword of ["anyOf", "oneOf", "allOf"]) {
    const branches = schema[keyword];
    if (!Array.isArray(branches)) continue;
    for (const branch of branches as Schema[]) {
      const normalize = compileUtcNormalizer(branch);
      if (normalize !== undefined) steps.push(normalize);
    }
  }

  if (steps.length === 0) return undefined;
  return (value) => steps.reduce((current, step) => step(current), value);
}
