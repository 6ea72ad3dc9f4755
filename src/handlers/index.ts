// The one list of every subject the service serves: each handler module's table, concatenated.
import type { AnyEndpoint } from "../rpc/endpoint.js";
import { meetingSettingsEndpoints } from "./meeting-settings.js";
import { meetingEndpoints } from "./meetings.js";
import { registrantEndpoints } from "./registrants.js";
import { rsvpEndpoints } from "./rsvps.js";
import type { HandlerDeps } from "./types.js";

export type { HandlerDeps };

export function createEndpoints(deps: HandlerDeps): AnyEndpoint[] {
  return [
    ...meetingEndpoints(deps),
    ...meetingSettingsEndpoints(deps),
    ...registrantEndpoints(deps),
    ...rsvpEndpoints(deps),
  ];
}
