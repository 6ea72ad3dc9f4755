// Who made each entity and who changed it last (docs/CONTRACT.md §8: `created_by`, `updated_by`), set on
// the store's write path so that every write of an entity carries them, whichever handler made it
// (including the writes a request causes in other entities, such as a meeting's registrant_count,
// which move updated_at too). The author is the caller of the request being served (the write's
// origin, change-headers.ts); writes outside a request (check-consistency repairs) keep what is
// there.
import type { Author } from "../../generated/schema-types.js";
import type { WriteOrigin } from "./change-headers.js";

export function authorOf(caller: WriteOrigin): Author {
  return {
    principal: caller.principal,
    ...(caller.username === undefined ? {} : { username: caller.username }),
    ...(caller.email === undefined ? {} : { email: caller.email }),
  };
}

/**
 * Sets `created_by` (on a create) and `updated_by` on the value about to be written, in place:
 * the handler's reply and events are built from the same object, so they show what was stored.
 */
export function stampAuthor(
  value: object,
  change: "create" | "update",
  caller: WriteOrigin | undefined,
): void {
  if (caller === undefined) return;
  const author = authorOf(caller);
  const entity = value as { created_by?: Author; updated_by?: Author };
  if (change === "create") entity.created_by = author;
  entity.updated_by = author;
}
