// RSVPs (`meeting-rsvps`): each RSVP with its index keys and its answer claim, and its
// registrant; each index key and claim with its RSVP (entities.ts).
import { isDirectKey } from "../../store/kv/keys.js";
import { registrantKey } from "../../store/resources/registrants.js";
import type { Repositories } from "../../store/resources/repositories.js";
import { rsvpAnswerClaimKey } from "../../store/resources/rsvps.js";
import { exists, type Check } from "./check.js";
import { checkEntities } from "./entities.js";

export async function checkRsvps(
  check: Check,
  repos: Pick<Repositories, "rsvps" | "registrants">,
): Promise<void> {
  await checkEntities(check, {
    repo: repos.rsvps,
    isEntityKey: isDirectKey,
    claimKeys: (r) => [rsvpAnswerClaimKey(r)],
    orphaned: async (r) =>
      (await exists(repos.registrants, registrantKey(r.registrant_uid)))
        ? null
        : `registrant ${r.registrant_uid} does not exist`,
  });
}
