// The messages between the service and the rest of the platform, for docs/asyncapi.yaml: what
// docs/CONTRACT.md §7-§10 and docs/PLATFORM.md define outside schemas/. These subjects are the
// platform's, not derived from this repository's schemas, so they are written out here once, as
// data; the service's own request subjects come from schemas/ (endpoints.mjs).

const string = { type: "string" };
const stringList = { type: "array", items: string };

/** docs/PLATFORM.md §1: the object types of this service in the search index. */
export const INDEX_OBJECT_TYPES = [
  "meeting",
  "meeting_settings",
  "meeting_registrant",
  "meeting_rsvp",
  "past_meeting",
  "past_meeting_participant",
  "past_meeting_recording",
  "past_meeting_transcript",
  "past_meeting_summary",
];

/** docs/PLATFORM.md §2. */
export const FGA_OPERATIONS = ["update_access", "delete_access", "member_put", "member_remove"];

export const INDEX_MESSAGE = {
  type: "object",
  required: ["action", "headers", "data", "tags", "indexing_config"],
  properties: {
    action: { type: "string", enum: ["created", "updated", "deleted"] },
    headers: {
      type: "object",
      description:
        "The caller's token when the request carried one, otherwise the service's own (SERVICE_TOKEN).",
      properties: {
        authorization: { type: "string", pattern: "^Bearer " },
        "x-on-behalf-of": string,
      },
    },
    data: {
      description: 'The entity as in a reply; on "deleted" the uid as a JSON string.',
      oneOf: [{ type: "object" }, { type: "string" }],
    },
    tags: { ...stringList, description: 'The uid, then "key:value" pairs (docs/PLATFORM.md §1).' },
    indexing_config: {
      type: "object",
      properties: {
        object_id: string,
        public: { type: "boolean" },
        access_check_object: string,
        access_check_relation: string,
        history_check_object: string,
        history_check_relation: string,
        sort_name: string,
        name_and_aliases: stringList,
        parent_refs: stringList,
        fulltext: string,
      },
    },
  },
};

export const FGA_MESSAGE = {
  type: "object",
  required: ["object_type", "operation", "data"],
  properties: {
    object_type: { type: "string", enum: ["meeting", "past_meeting"] },
    operation: { type: "string", enum: FGA_OPERATIONS },
    data: {
      type: "object",
      description: "Full state (docs/PLATFORM.md §2 table): a repeat is harmless.",
      properties: {
        uid: string,
        public: { type: "boolean" },
        username: string,
        relations: {
          description: "update_access: {relation: [usernames]}; member_*: [relation names].",
          oneOf: [{ type: "object" }, stringList],
        },
        references: { type: "object", additionalProperties: stringList },
        exclude_relations: stringList,
        mutually_exclusive_with: stringList,
      },
    },
  },
};

const text = (description) => ({ type: "string", description });

/** docs/PLATFORM.md §3: requests the service sends, each answered by a platform service. */
export const PLATFORM_REQUESTS = [
  {
    id: "access-check",
    address: "lfx.access_check.request",
    summary:
      "Access checks (docs/CONTRACT.md §8), one per line: meeting:<uid>#organizer@user:<principal>.",
    request: text("Checks, one a line."),
    reply: text("One line per check: <the check>\\t<true or false>, in any order."),
  },
  {
    id: "project-name",
    address: "lfx.projects-api.get_name",
    summary: "A project's name (docs/CONTRACT.md §10); empty reply: no such project.",
    request: text("The project uid as raw bytes."),
    reply: text("The name as raw bytes; empty = no such project."),
  },
  {
    id: "project-slug",
    address: "lfx.projects-api.get_slug",
    summary: "A project's slug; empty reply: no such project.",
    request: text("The project uid."),
    reply: text("The slug; empty = no such project."),
  },
  {
    id: "committee-name",
    address: "lfx.committee-api.get_name",
    summary: "A committee's name (docs/CONTRACT.md §10).",
    request: text("The committee uid."),
    reply: text('The name; {"error": "..."} or empty = no such committee.'),
  },
  {
    id: "committee-members",
    address: "lfx.committee-api.list_members",
    summary: "A committee's members, for committee registrants (docs/CONTRACT.md §10).",
    request: text("The committee uid."),
    reply: { type: "array", items: { $ref: "#/components/schemas/CommitteeMember" } },
    replyContentType: "application/json",
  },
  {
    id: "email-to-username",
    address: "lfx.auth-service.email_to_username",
    summary:
      "The username of an email, for registrants created without one (docs/CONTRACT.md §10).",
    request: text("An email."),
    reply: text('The username; empty or {"error": ...} = none.'),
  },
];

export const COMMITTEE_MEMBER = {
  type: "object",
  properties: {
    uid: string,
    username: string,
    email: string,
    first_name: string,
    last_name: string,
    job_title: string,
    organization: { type: "object", properties: { name: string, website: string } },
    voting: { type: "object", properties: { status: string } },
    role: { type: "object", properties: { name: string } },
    committee_uid: string,
  },
};

const PERSON_LIST = {
  type: "array",
  items: {
    type: "object",
    properties: { uid: string, username: string, email: string, name: string },
  },
};
const PROJECT_SETTINGS = {
  type: "object",
  properties: {
    writers: PERSON_LIST,
    meeting_coordinators: PERSON_LIST,
    auditors: PERSON_LIST,
  },
};

/** docs/PLATFORM.md §5: events the service follows. */
export const PLATFORM_EVENTS = [
  {
    id: "committee-member-events",
    address: "lfx.committee-api.committee_member.{event}",
    parameters: { event: { enum: ["created", "updated", "deleted"] } },
    summary: "Committee members joining, changing and leaving: committee registrants follow them.",
    payload: {
      type: "object",
      properties: {
        event_type: string,
        subject: string,
        timestamp: string,
        version: string,
        data: {
          description: "A member; for updated {member_uid, old_member, member}.",
          oneOf: [
            { $ref: "#/components/schemas/CommitteeMember" },
            {
              type: "object",
              properties: {
                member_uid: string,
                old_member: { $ref: "#/components/schemas/CommitteeMember" },
                member: { $ref: "#/components/schemas/CommitteeMember" },
              },
            },
          ],
        },
      },
    },
  },
  {
    id: "project-settings-events",
    address: "lfx.projects-api.project_settings.updated",
    summary: "A project's roles changed: organizers who lost theirs stop being organizers.",
    payload: {
      type: "object",
      properties: {
        project_uid: string,
        old_settings: PROJECT_SETTINGS,
        new_settings: PROJECT_SETTINGS,
      },
    },
  },
];

/**
 * docs/PLATFORM.md §4: answered by the service, raw bytes both ways (not JSON, so not in schemas/).
 */
export const GET_TITLE = {
  id: "meetings-api-get-title",
  address: "lfx.meetings-api.get_title",
  summary: "A meeting's title, for other services to show next to their records.",
  request: text("A meeting uid as raw bytes."),
  reply: text("The title as raw bytes; empty when there is no such meeting."),
};
