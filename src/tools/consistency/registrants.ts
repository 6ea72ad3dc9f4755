// Registrants (`meeting-registrants`): each registrant with its index keys and its email claim,
// and its meeting; each index key and claim with its registrant (entities.ts). Gathers what the
// meetings' registrant_count check needs (meetings.ts). A registrant's key under its meeting
// commits it (its count is those keys, handlers/registrant-count.ts): a registrant without it is
// reported as missing that index key, and the repair writes it, completing the create.
import type { Repositories } from "../../store/resources/repositories.js";
import { decodeKey } from "../../store/kv/keys.js";
import { registrantEmailClaimKey } from "../../store/resources/registrants.js";
import { exists, type Check } from "./check.js";
import { checkEntities } from "./entities.js";

/** What the registrant walk leaves for counting registrants per meeting. */
export interface RegistrantFacts {
  /** Meetings with a registrant written within the grace period: their count is not judged. */
  meetingsInFlight: Set<string>;
}

export async function checkRegistrants(
  check: Check,
  repos: Pick<Repositories, "registrants" | "meetings">,
): Promise<RegistrantFacts> {
  const facts: RegistrantFacts = {
    meetingsInFlight: new Set(),
  };
  await checkEntities(check, {
    repo: repos.registrants,
    isEntityKey: (key) => decodeKey(key)[0] === "registrant",
    claimKeys: (r) => [registrantEmailClaimKey(r.meeting_uid, r.email)],
    orphaned: async (r) =>
      (await exists(repos.meetings, r.meeting_uid))
        ? null
        : `meeting ${r.meeting_uid} does not exist`,
    seen: (r, young) => {
      if (young) facts.meetingsInFlight.add(r.meeting_uid);
    },
  });
  return facts;
}
