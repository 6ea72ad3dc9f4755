// The one list of every subject the service serves: each handler module's table, concatenated.
import type { AnyEndpoint } from "../rpc/endpoint.js";
import { meetingSettingsEndpoints } from "./meeting-settings.js";
import { meetingEndpoints } from "./meetings.js";
import { occurrenceEndpoints } from "./occurrences.js";
import { participantEndpoints } from "./participants.js";
import { pastMeetingEndpoints } from "./past-meetings.js";
import { recordingEndpoints } from "./recordings.js";
import { registrantEndpoints } from "./registrants.js";
import { rsvpEndpoints } from "./rsvps.js";
import { summaryEndpoints } from "./summaries.js";
import { transcriptEndpoints } from "./transcripts.js";
import type { HandlerDeps } from "./deps.js";

export type { HandlerDeps };

export function createEndpoints(deps: HandlerDeps): AnyEndpoint[] {
  return [
    ...meetingEndpoints(deps),
    ...meetingSettingsEndpoints(deps),
    ...occurrenceEndpoints(deps),
    ...registrantEndpoints(deps),
    ...rsvpEndpoints(deps),
    ...pastMeetingEndpoints(deps),
    ...participantEndpoints(deps),
    ...recordingEndpoints(deps),
    ...transcriptEndpoints(deps),
    ...summaryEndpoints(deps),
  ];
}
