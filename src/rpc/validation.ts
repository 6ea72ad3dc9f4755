// The validator behind every request (docs/CONTRACT.md §3): one strict Ajv with the ajv-formats
// formats plus `iana-timezone`, and the translation of its errors into the wire's `{path, message}`
// details. No removeAdditional, coerceTypes or useDefaults: a request is checked, never rewritten.

import { Ajv } from "ajv";
import type { ErrorObject } from "ajv";
import addFormats from "ajv-formats";
import { isEmailAddress } from "../domain/email-address.js";
import { isKnownZone } from "../domain/occurrences.js";
import type { ErrorDetail } from "../errors.js";

/** IANA names start with a letter; this keeps offsets ("+01:00") out even where Intl accepts them. */
const ZONE_NAME = /^[A-Za-z][A-Za-z0-9_+\-/]*$/;

export function isIanaTimezone(name: string): boolean {
  return ZONE_NAME.test(name) && isKnownZone(name);
}

export function createAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: true });
  addFormats.default(ajv);
  ajv.addFormat("iana-timezone", { type: "string", validate: isIanaTimezone });
  ajv.addFormat("idn-email", { type: "string", validate: isEmailAddress });
  return ajv;
}

const FORMAT_MESSAGES: Readonly<Record<string, string>> = {
  "date-time": "must be an RFC 3339 date-time with a time zone (e.g. 2030-01-31T15:00:00Z)",
  date: "must be an RFC 3339 date (e.g. 2030-01-31)",
  uuid: "must be a UUID",
  uri: "must be an absolute URI",
  email: "must be an email address",
  "idn-email": "must be an email address (RFC 5321, or RFC 6531 with non-ASCII characters)",
  "iana-timezone": "must be an IANA time zone name (e.g. Europe/Berlin)",
};

const TYPE_NAMES: Readonly<Record<string, string>> = {
  string: "a string",
  integer: "an integer",
  number: "a number",
  boolean: "a boolean",
  object: "an object",
  array: "an array",
  null: "null",
};

/**
 * Every violation Ajv found, as details: `path` is a JSON Pointer to the offending field (the
 * missing or unknown property itself for `required` and `additionalProperties`), deduplicated.
 * `schema` is the compiled (bundled) schema: a `not` violation is reported with the description
 * of the schema that holds the `not`.
 */
export function toErrorDetails(
  errors: readonly ErrorObject[],
  data: unknown,
  schema: unknown,
): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  const seen = new Set<string>();
  // An `if` error only says that a `then`/`else` branch failed; that branch's errors say why.
  const informative = errors.filter((e) => e.keyword !== "if");
  for (const item of collapseAlternatives(informative)) {
    const detail = "detail" in item ? item.detail : describe(item.error, data, schema);
    const key = `${detail.path}\u0000${detail.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    details.push(detail);
  }
  return details;
}

type Reported = { error: ErrorObject } | { detail: ErrorDetail };

/**
 * `anyOf`/`oneOf` (how nullable fields are written) make Ajv report every branch. A branch whose
 * `type` does not match the value says nothing useful, so: when no branch has the value's type,
 * one "must be a string or null"; otherwise only the errors of the branches of the right type.
 */
function collapseAlternatives(errors: readonly ErrorObject[]): Reported[] {
  const removed = new Set<ErrorObject>();
  const replaced = new Map<ErrorObject, ErrorDetail>();
  const combinators = errors
    .filter((e) => e.keyword === "anyOf" || (e.keyword === "oneOf" && isNoMatch(e)))
    .sort((a, b) => a.schemaPath.length - b.schemaPath.length);
  for (const combinator of combinators) {
    if (removed.has(combinator)) continue;
    const prefix = `${combinator.schemaPath}/`;
    const branches = new Map<string, ErrorObject[]>();
    for (const e of errors) {
      if (e === combinator || removed.has(e) || !e.schemaPath.startsWith(prefix)) continue;
      const branch = e.schemaPath.slice(prefix.length).split("/", 1)[0] ?? "";
      branches.set(branch, [...(branches.get(branch) ?? []), e]);
    }
    if (branches.size === 0) continue;
    const typeErrors = new Map<string, ErrorObject>();
    for (const [branch, branchErrors] of branches) {
      const typeError = branchErrors.find(
        (e) =>
          e.keyword === "type" &&
          e.instancePath === combinator.instancePath &&
          e.schemaPath === `${prefix}${branch}/type`,
      );
      if (typeError !== undefined) typeErrors.set(branch, typeError);
    }
    if (typeErrors.size === branches.size) {
      for (const branchErrors of branches.values()) branchErrors.forEach((e) => removed.add(e));
      const types = [...typeErrors.values()].flatMap((e) => typesOf(e));
      replaced.set(combinator, {
        path: combinator.instancePath,
        message: `must be ${typeList(types)}`,
      });
      continue;
    }
    for (const branch of typeErrors.keys()) branches.get(branch)?.forEach((e) => removed.add(e));
    removed.add(combinator);
  }
  // Ajv checks `enum` and `const` whatever the type: next to a type error they only repeat it.
  const typeMismatches = new Set(
    errors
      .filter((e) => e.keyword === "type")
      .map((e) => `${e.instancePath} ${parentOf(e.schemaPath)}`),
  );
  for (const e of errors) {
    if (
      (e.keyword === "enum" || e.keyword === "const") &&
      typeMismatches.has(`${e.instancePath} ${parentOf(e.schemaPath)}`)
    ) {
      removed.add(e);
    }
  }
  const reported: Reported[] = [];
  for (const error of errors) {
    const detail = replaced.get(error);
    if (detail !== undefined) reported.push({ detail });
    else if (!removed.has(error)) reported.push({ error });
  }
  return reported;
}

function parentOf(schemaPath: string): string {
  return schemaPath.slice(0, schemaPath.lastIndexOf("/"));
}

function isNoMatch(error: ErrorObject): boolean {
  const params = error.params as { passingSchemas?: unknown };
  return params.passingSchemas === null || params.passingSchemas === undefined;
}

function describe(error: ErrorObject, data: unknown, schema: unknown): ErrorDetail {
  const at = error.instancePath;
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case "required":
      return { path: child(at, params.missingProperty), message: "is required" };
    case "additionalProperties":
      return {
        path: child(at, params.additionalProperty),
        message: `unknown property ${JSON.stringify(params.additionalProperty)} is not allowed`,
      };
    case "dependencies":
      return {
        path: child(at, params.missingProperty),
        message: `is required when ${String(params.property)} is set`,
      };
    case "type": {
      const types = typeList(typesOf(error));
      return valueAt(data, at) === null
        ? { path: at, message: `cannot be null (must be ${types})` }
        : { path: at, message: `must be ${types}` };
    }
    case "enum":
      return {
        path: at,
        message: `must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ")}`,
      };
    case "const":
      return { path: at, message: `must be ${JSON.stringify(params.allowedValue)}` };
    case "format": {
      const format = String(params.format);
      return { path: at, message: FORMAT_MESSAGES[format] ?? `must be a valid ${format}` };
    }
    case "minLength":
      return {
        path: at,
        message:
          params.limit === 1
            ? "must not be empty"
            : `must be at least ${String(params.limit)} characters long`,
      };
    case "maxLength":
      return { path: at, message: `must be at most ${String(params.limit)} characters long` };
    case "minItems":
      return { path: at, message: `must have at least ${String(params.limit)} item(s)` };
    case "maxItems":
      return { path: at, message: `must have at most ${String(params.limit)} item(s)` };
    case "uniqueItems":
      return {
        path: at,
        message: `must not contain duplicates (items ${duplicates(params)} are equal)`,
      };
    case "pattern":
      return { path: at, message: `must match the pattern ${String(params.pattern)}` };
    case "not":
      return {
        path: at,
        message: descriptionOfParent(schema, error.schemaPath) ?? "is not allowed",
      };
    case "false schema":
      return { path: at, message: "is not allowed" };
    case "anyOf":
      return { path: at, message: "does not match any of the allowed forms" };
    case "oneOf":
      return { path: at, message: "must match exactly one of the allowed forms" };
    default:
      return { path: at, message: error.message ?? "is invalid" };
  }
}

function duplicates(params: Record<string, unknown>): string {
  const [first, second] = [Number(params.i), Number(params.j)].sort((a, b) => a - b);
  return `${String(first)} and ${String(second)}`;
}

function typesOf(error: ErrorObject): string[] {
  const type = (error.params as { type?: unknown }).type;
  if (Array.isArray(type)) return type.map(String);
  return String(type).split(",");
}

function typeList(types: readonly string[]): string {
  const unique = [...new Set(types)].sort((a, b) => Number(a === "null") - Number(b === "null"));
  return unique.map((t) => TYPE_NAMES[t] ?? t).join(" or ");
}

function child(pointer: string, property: unknown): string {
  return `${pointer}/${String(property).replaceAll("~", "~0").replaceAll("/", "~1")}`;
}

function pointerSegments(pointer: string): string[] {
  return pointer
    .split("/")
    .slice(1)
    .map((s) => s.replaceAll("~1", "/").replaceAll("~0", "~"));
}

function valueAt(data: unknown, pointer: string): unknown {
  let current = data;
  for (const segment of pointerSegments(pointer)) {
    if (typeof current !== "object" || current === null) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

/** Ajv's schemaPath is a URI fragment ("#/properties/a/not"); the parent drops the keyword. */
function descriptionOfParent(schema: unknown, schemaPath: string): string | undefined {
  const node = valueAt(schema, decodeURIComponent(parentOf(schemaPath.replace(/^#/, ""))));
  if (typeof node !== "object" || node === null) return undefined;
  const description = (node as { description?: unknown }).description;
  return typeof description === "string" ? description : undefined;
}
