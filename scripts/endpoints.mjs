// The endpoint table, derived from schemas/ so that nothing lists subjects by hand: every
// `schemas/<resource>.<action>.json` is the request of subject `lfx.<resource>.<action>`, and its
// reply follows from the subject (docs/CONTRACT.md §3, §4). Shared by the generated types
// (gen-types.mjs: RequestBySubject, ReplyBySubject, the client's subject list) and the AsyncAPI
// document (gen-asyncapi.mjs), so a schema added by a new endpoint reaches both when they are
// rerun.

import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * Replies the naming rule below cannot find. An occurrence lives inside its meeting's record
 * (docs/CONTRACT.md §4, §12): changing one replies with the whole meeting.
 */
const REPLY_EXCEPTIONS = {
  "lfx.occurrences.cancel": "meeting",
  "lfx.occurrences.update": "meeting",
};

/** Request files of `dir`, sorted: the service's subjects in a stable order. */
export async function requestSchemaFiles(dir) {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && /^[a-z0-9-]+\.[a-z0-9_-]+\.json$/.test(e.name))
    .map((e) => e.name)
    .sort();
}

/** `{ file, title }` of every schema in `schemas/entities/`, by entity name (file without .json). */
export async function readEntities(dir) {
  const files = (await readdir(join(dir, "entities"))).filter((f) => f.endsWith(".json")).sort();
  const entities = {};
  for (const file of files) {
    const schema = JSON.parse(await readFile(join(dir, "entities", file), "utf8"));
    entities[file.slice(0, -".json".length)] = { file: `entities/${file}`, title: schema.title };
  }
  return entities;
}

/**
 * Every endpoint: `{ subject, resource, action, requestFile, requestTitle, reply }`, where reply is
 * `{ kind: "entity" | "page" | "deleted", entity }` (`entity` names a file of schemas/entities/).
 * Throws, naming the subject, when a reply cannot be derived: a new kind of endpoint then gets an
 * entry in REPLY_EXCEPTIONS rather than a silent guess.
 */
export async function readEndpoints(dir) {
  const entities = await readEntities(dir);
  const endpoints = [];
  for (const file of await requestSchemaFiles(dir)) {
    const [resource, action] = file.slice(0, -".json".length).split(".");
    const subject = `lfx.${resource}.${action}`;
    const schema = JSON.parse(await readFile(join(dir, file), "utf8"));
    endpoints.push({
      subject,
      resource,
      action,
      requestFile: file,
      requestTitle: schema.title,
      description: schema.description,
      reply: replyOf(subject, resource, action, entities),
    });
  }
  return endpoints;
}

function replyOf(subject, resource, action, entities) {
  if (action === "delete") return { kind: "deleted", entity: "deleted" };
  const exception = action === "list" ? undefined : REPLY_EXCEPTIONS[subject];
  const entity = exception ?? entityOfResource(resource, entities);
  if (entity === undefined || entities[entity] === undefined) {
    throw new Error(
      `${subject}: no reply schema in schemas/entities/ for resource "${resource}"; ` +
        `add the entity or an entry in REPLY_EXCEPTIONS (scripts/endpoints.mjs)`,
    );
  }
  return { kind: action === "list" ? "page" : "entity", entity };
}

/** `meeting-settings` -> meeting-settings, `meetings` -> meeting, `summaries` -> summary. */
function entityOfResource(resource, entities) {
  const candidates = [resource, resource.replace(/ies$/, "y"), resource.replace(/s$/, "")];
  return candidates.find((name) => entities[name] !== undefined);
}
