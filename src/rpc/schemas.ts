// Loads schemas/ (docs/CONTRACT.md §2, §3): each top-level file is the request schema of one
// subject (`meetings.create.json` -> `lfx.meetings.create`), each entities/ file the schema of a
// reply. Every schema is bundled (all `$ref`s inlined) and that one object is both what Ajv
// compiles and what the service publishes as `request_schema`, so the two cannot differ.

import { dereference } from "@apidevtools/json-schema-ref-parser";
import type { ParserOptions } from "@apidevtools/json-schema-ref-parser";
import type { ValidateFunction } from "ajv";
import { readdir, readFile } from "node:fs/promises";
import { join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { ErrorDetail } from "../errors.js";
import { createAjv, toErrorDetails } from "./validation.js";

/** The repository's schemas/ directory: two levels up from src/rpc/ and from dist/rpc/ alike. */
export const SCHEMA_DIR = resolve(fileURLToPath(new URL("../../schemas", import.meta.url)));

/** Every top-level schema's `$id` is this base plus its path under schemas/. */
export const SCHEMA_ID_BASE = "https://schemas.lfx.dev/meeting-service/";

export const SUBJECT_PREFIX = "lfx.";

export const JSON_SCHEMA_DRAFT_07 = "http://json-schema.org/draft-07/schema#";

export interface CompiledSchema {
  /** The schema's `$id`. */
  id: string;
  /** The schema's `title`, also the name of its generated type. */
  title: string;
  /** Self-contained: no `$ref`, keeps `$schema`, `$id` and `title`. */
  bundled: Record<string, unknown>;
  /** Every violation, `[]` when `data` is valid. */
  validate(data: unknown): ErrorDetail[];
}

const REQUEST_FILE = /^[a-z0-9][a-z0-9-]*(\.[a-z0-9][a-z0-9-]*)+\.json$/;

/** `meetings.create.json` -> `lfx.meetings.create`. */
export function subjectForSchemaFile(fileName: string): string {
  if (!REQUEST_FILE.test(fileName)) {
    throw new Error(`${fileName} is not named <resource>.<action>.json`);
  }
  return SUBJECT_PREFIX + fileName.slice(0, -".json".length);
}

/** `lfx.meetings.create` -> `meetings.create.json`. */
export function schemaFileForSubject(subject: string): string {
  if (!subject.startsWith(SUBJECT_PREFIX)) {
    throw new Error(`subject ${subject} does not start with ${SUBJECT_PREFIX}`);
  }
  return `${subject.slice(SUBJECT_PREFIX.length)}.json`;
}

/** Request schemas by subject, from every top-level `*.json` of `dir`. */
export async function loadRequestSchemas(
  dir: string = SCHEMA_DIR,
): Promise<Map<string, CompiledSchema>> {
  const files = await jsonFiles(dir);
  const entries = await Promise.all(
    files.map(async (file) => [subjectForSchemaFile(file), await compileFile(dir, file)] as const),
  );
  return new Map(entries);
}

/** Entity (reply) schemas by file base name under `dir/entities/`, e.g. `meeting`. */
export async function loadEntitySchemas(
  dir: string = SCHEMA_DIR,
): Promise<Map<string, CompiledSchema>> {
  const files = await jsonFiles(join(dir, "entities"));
  const entries = await Promise.all(
    files.map(
      async (file) =>
        [file.slice(0, -".json".length), await compileFile(dir, join("entities", file))] as const,
    ),
  );
  return new Map(entries);
}

/** The bundled form of one schema file, `path` relative to `dir`. */
export async function bundleSchemaFile(
  dir: string,
  path: string,
): Promise<Record<string, unknown>> {
  const root = resolve(dir);
  const file = join(root, path);
  const source = JSON.parse(await readFile(file, "utf8")) as unknown;
  checkConventions(source, path);
  let dereferenced: unknown;
  try {
    dereferenced = await dereference(file, refParserOptions(root));
  } catch (err) {
    throw new Error(`schema ${path}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  // A plain tree (dereferencing shares objects between refs) and exactly what gets published.
  const bundled = JSON.parse(JSON.stringify(dereferenced)) as Record<string, unknown>;
  stripNestedResourceKeywords(bundled, true);
  if (JSON.stringify(bundled).includes('"$ref"')) {
    throw new Error(`schema ${path}: a $ref is left after bundling`);
  }
  return bundled;
}

const ajv = createAjv();
/** Compiled validators by `$id`: each schema is compiled once, however often it is loaded. */
const compiled = new Map<string, { text: string; validate: ValidateFunction }>();

async function compileFile(dir: string, path: string): Promise<CompiledSchema> {
  const bundled = await bundleSchemaFile(dir, path);
  const id = bundled.$id as string;
  const title = bundled.title as string;
  const text = JSON.stringify(bundled);
  let entry = compiled.get(id);
  if (entry?.text !== text) {
    // Only a different schemas/ directory (tests) gives one `$id` a second content.
    if (entry !== undefined) ajv.removeSchema(id);
    entry = { text, validate: ajv.compile(bundled) };
    compiled.set(id, entry);
  }
  const validateFn = entry.validate;
  return {
    id,
    title,
    bundled,
    validate(data: unknown): ErrorDetail[] {
      if (validateFn(data)) return [];
      return toErrorDetails(validateFn.errors ?? [], data, bundled);
    },
  };
}

async function jsonFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith(".json"))
    .map((e) => e.name)
    .sort();
}

/**
 * Relative refs resolve against the `$id` of the file they are in (draft-07), so `$id` URLs are
 * mapped back to files under `dir`; nothing is ever fetched over the network.
 */
function refParserOptions(dir: string): ParserOptions {
  return {
    resolve: {
      http: false,
      external: true,
      schemaIds: {
        order: 1,
        canRead: (file: { url: string }) => file.url.startsWith(SCHEMA_ID_BASE),
        read: (file: { url: string }) => readFile(fileForId(dir, file.url)),
      },
    },
    dereference: { circular: false },
  };
}

function fileForId(dir: string, url: string): string {
  const path = resolve(
    dir,
    decodeURIComponent(url.slice(SCHEMA_ID_BASE.length).split("#")[0] ?? ""),
  );
  if (!path.startsWith(dir + sep)) throw new Error(`schema ${url} is outside ${dir}`);
  return path;
}

/** Maps of names to subschemas: their keys are property names, not keywords. */
const NAME_MAPS = new Set(["properties", "patternProperties", "definitions", "dependencies"]);

/** An inlined file keeps its `$id` and `$schema`; inside a bundle they would be sub-resources. */
function stripNestedResourceKeywords(node: unknown, isRoot: boolean, isNameMap = false): void {
  if (Array.isArray(node)) {
    node.forEach((item) => stripNestedResourceKeywords(item, false));
    return;
  }
  if (typeof node !== "object" || node === null) return;
  const object = node as Record<string, unknown>;
  if (!isRoot && !isNameMap) {
    delete object.$id;
    delete object.$schema;
  }
  for (const [key, value] of Object.entries(object)) {
    stripNestedResourceKeywords(value, false, !isNameMap && NAME_MAPS.has(key));
  }
}

/** `$schema`, `$id` (its path under the base) and `title`, which names the generated type. */
function checkConventions(source: unknown, path: string): void {
  const schema = (typeof source === "object" && source !== null ? source : {}) as Record<
    string,
    unknown
  >;
  const expectedId = SCHEMA_ID_BASE + path.split(sep).join("/");
  const problems: string[] = [];
  if (schema.$schema !== JSON_SCHEMA_DRAFT_07)
    problems.push(`$schema must be ${JSON_SCHEMA_DRAFT_07}`);
  if (schema.$id !== expectedId) problems.push(`$id must be ${expectedId}`);
  if (typeof schema.title !== "string" || schema.title === "") problems.push("title is missing");
  if (problems.length > 0) throw new Error(`schema ${path}: ${problems.join("; ")}`);
}
