// What one committed entity change says to the platform, as pure functions of the change:
// the search-index message (docs/PLATFORM.md §1), the access-control messages (§2) and the event
// (docs/CONTRACT.md §7). No I/O here: what they need besides the change (a meeting's organizers, a
// past meeting's artifact visibility) is passed in by the sinks (sinks.ts).
import { BUCKET_NAMES } from "../store/kv/buckets.js";
import type { EntityChange } from "./change.js";

type Entity = Record<string, unknown>;

interface EntityKind {
  /** The resource as in the request subjects and events (docs/CONTRACT.md §7). */
  resource: string;
  /** The indexer's object type (docs/PLATFORM.md §1). */
  objectType: string;
}

/** Every entity bucket and what its entities are called on the wire. */
export const ENTITY_KINDS: Readonly<Record<string, EntityKind>> = {
  [BUCKET_NAMES.meetings]: { resource: "meetings", objectType: "meeting" },
  [BUCKET_NAMES.meetingSettings]: { resource: "meeting-settings", objectType: "meeting_settings" },
  [BUCKET_NAMES.registrants]: { resource: "registrants", objectType: "meeting_registrant" },
  [BUCKET_NAMES.rsvps]: { resource: "rsvps", objectType: "meeting_rsvp" },
  [BUCKET_NAMES.pastMeetings]: { resource: "past-meetings", objectType: "past_meeting" },
  [BUCKET_NAMES.participants]: {
    resource: "participants",
    objectType: "past_meeting_participant",
  },
  [BUCKET_NAMES.recordings]: { resource: "recordings", objectType: "past_meeting_recording" },
  [BUCKET_NAMES.transcripts]: { resource: "transcripts", objectType: "past_meeting_transcript" },
  [BUCKET_NAMES.summaries]: { resource: "summaries", objectType: "past_meeting_summary" },
};

export function kindOf(bucket: string): EntityKind {
  const kind = ENTITY_KINDS[bucket];
  if (kind === undefined) throw new RangeError(`not an entity bucket: ${bucket}`);
  return kind;
}

export interface OutgoingMessage {
  subject: string;
  body: object;
}

/** The entity as a reply shows it: with its revision, without internal fields. */
export function shownEntity(change: EntityChange): Entity {
  const {
    cancelled_occurrences: _cancelled,
    registrant_count_seq: _countedUpTo,
    registrations_begun: _begun,
    uid_lists_seq: _replayedUpTo,
    ...shown
  } = change.value;
  return { ...shown, uid: change.uid, revision: change.revision };
}

// ---- docs/CONTRACT.md §7
// -------------------------------------------------------------------------

/** `shown`: the entity as a reply shows it (a meeting with its occurrences); shownEntity by default. */
export function eventMessage(
  change: EntityChange,
  shown: Entity = shownEntity(change),
): OutgoingMessage {
  const { resource } = kindOf(change.bucket);
  return {
    subject: `lfx.events.${resource}.${change.action}`,
    body: {
      resource,
      action: change.action,
      uid: change.uid,
      revision: change.revision,
      data: change.action === "deleted" ? null : shown,
      at: change.at.toISOString(),
    },
  };
}

// ---- docs/PLATFORM.md §1 ----------------------------------------------------------------------

export type ArtifactVisibility = "meeting_hosts" | "meeting_participants" | "public";

export interface IndexContext {
  /** `Bearer <SERVICE_TOKEN>`: the token of changes made on nobody's behalf. */
  serviceAuthorization: string;
  /** For recordings, transcripts and summaries: their past meeting's `artifact_visibility`. */
  artifactVisibility?: ArtifactVisibility;
}

/** Fields that are secrets wherever they appear (docs/PLATFORM.md §1: never in the index). */
const SECRET_FIELDS = new Set(["passcode", "password", "join_url", "host_key"]);

function withoutSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutSecrets);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([field]) => !SECRET_FIELDS.has(field))
      .map(([field, inner]) => [field, withoutSecrets(inner)]),
  );
}

function text(entity: Entity, field: string): string | undefined {
  const value = entity[field];
  if (typeof value === "string" && value !== "") return value;
  if (typeof value === "number") return `${value}`;
  return undefined;
}

function committeeUids(entity: Entity): string[] {
  const committees = entity["committees"];
  if (!Array.isArray(committees)) return [];
  return committees
    .map((committee: unknown) => (committee as { uid?: unknown } | null)?.uid)
    .filter((uid): uid is string => typeof uid === "string");
}

/** `key:value` tags in order, leaving out empty values (docs/PLATFORM.md §1). */
function tags(uid: string, pairs: [string, string | undefined][]): string[] {
  return [uid, ...pairs.filter(([, v]) => v !== undefined).map(([k, v]) => `${k}:${v}`)];
}

function fullName(entity: Entity): string | undefined {
  const name = [text(entity, "first_name"), text(entity, "last_name")]
    .filter((part) => part !== undefined)
    .join(" ");
  return name === "" ? undefined : name;
}

function compact(values: (string | undefined)[]): string[] {
  return values.filter((value): value is string => value !== undefined);
}

interface IndexShape {
  tags: string[];
  public: boolean;
  access: [string, string];
  history: [string, string];
  sortName: string;
  names: string[];
  parents: string[];
  fulltext: string;
}

function indexShape(bucket: string, uid: string, entity: Entity, ctx: IndexContext): IndexShape {
  const meetingUid = text(entity, "meeting_uid");
  const pastMeetingUid = text(entity, "past_meeting_uid");
  const projectUid = text(entity, "project_uid");
  switch (bucket) {
    case BUCKET_NAMES.meetings: {
      const title = text(entity, "title");
      return {
        tags: tags(uid, [
          ["meeting_uid", uid],
          ["project_uid", projectUid],
          ...committeeUids(entity).map((c): [string, string] => ["committee_uid", c]),
          ["title", title],
          ["meeting_type", text(entity, "meeting_type")],
          ["visibility", text(entity, "visibility")],
        ]),
        public: entity["visibility"] === "public",
        access: [`meeting:${uid}`, "viewer"],
        history: [`meeting:${uid}`, "auditor"],
        sortName: title ?? uid,
        names: compact([title]),
        parents: [
          ...compact([projectUid && `project:${projectUid}`]),
          ...committeeUids(entity).map((c) => `committee:${c}`),
        ],
        fulltext: compact([title, text(entity, "description")]).join(" "),
      };
    }
    case BUCKET_NAMES.meetingSettings:
      return auditorsOfMeeting(uid, tags(uid, [["meeting_uid", uid]]), uid, [], "");
    case BUCKET_NAMES.registrants: {
      const name = fullName(entity);
      const email = text(entity, "email");
      return auditorsOfMeeting(
        meetingUid ?? "",
        tags(uid, [
          ["registrant_uid", uid],
          ["meeting_uid", meetingUid],
          ["email", email],
          ["username", text(entity, "username")],
          ["host", entity["host"] === true ? "true" : undefined],
        ]),
        name ?? email ?? uid,
        compact([name, email, text(entity, "username")]),
        compact([name, email, text(entity, "org_name")]).join(" "),
      );
    }
    case BUCKET_NAMES.rsvps:
      return auditorsOfMeeting(
        meetingUid ?? "",
        tags(uid, [
          ["rsvp_uid", uid],
          ["meeting_uid", meetingUid],
          ["registrant_uid", text(entity, "registrant_uid")],
          ["occurrence_id", text(entity, "occurrence_id")],
          ["response", text(entity, "response")],
        ]),
        uid,
        [],
        "",
      );
    case BUCKET_NAMES.pastMeetings: {
      const title = text(entity, "title");
      return {
        tags: tags(uid, [
          ["past_meeting_uid", uid],
          ["meeting_uid", meetingUid],
          ["project_uid", projectUid],
          ["occurrence_id", text(entity, "occurrence_id")],
        ]),
        public: false,
        access: [`past_meeting:${uid}`, "viewer"],
        history: [`past_meeting:${uid}`, "auditor"],
        sortName: title ?? uid,
        names: compact([title]),
        parents: compact([
          projectUid && `project:${projectUid}`,
          meetingUid && `meeting:${meetingUid}`,
        ]),
        fulltext: compact([title, text(entity, "description")]).join(" "),
      };
    }
    case BUCKET_NAMES.participants: {
      const name = fullName(entity);
      const pastMeeting = `past_meeting:${pastMeetingUid ?? ""}`;
      return {
        tags: tags(uid, [["past_meeting_uid", pastMeetingUid]]),
        public: false,
        access: [pastMeeting, "auditor"],
        history: [pastMeeting, "auditor"],
        sortName: name ?? text(entity, "email") ?? uid,
        names: compact([name, text(entity, "email"), text(entity, "username")]),
        parents: [pastMeeting],
        fulltext: compact([name, text(entity, "email"), text(entity, "org_name")]).join(" "),
      };
    }
    default: {
      // Recordings, transcripts, summaries: who may find them follows the past meeting's
      // artifact_visibility; unknown (past meeting gone) is the narrowest, hosts only.
      const pastMeeting = `past_meeting:${pastMeetingUid ?? ""}`;
      const visibility = ctx.artifactVisibility ?? "meeting_hosts";
      const summaryTitle = (entity["summary_data"] as Entity | undefined)?.["title"];
      const title = typeof summaryTitle === "string" && summaryTitle !== "" ? summaryTitle : uid;
      return {
        tags: tags(uid, [["past_meeting_uid", pastMeetingUid]]),
        public: visibility === "public",
        access: [pastMeeting, visibility === "meeting_hosts" ? "host" : "viewer"],
        history: [pastMeeting, "auditor"],
        sortName: title,
        names: compact([title === uid ? undefined : title]),
        parents: [pastMeeting],
        fulltext: title === uid ? "" : title,
      };
    }
  }
}

/** Settings, registrants and RSVPs: found only by the meeting's auditors (docs/PLATFORM.md §1). */
function auditorsOfMeeting(
  meetingUid: string,
  entityTags: string[],
  sortName: string,
  names: string[],
  fulltext: string,
): IndexShape {
  const meeting = `meeting:${meetingUid}`;
  return {
    tags: entityTags,
    public: false,
    access: [meeting, "auditor"],
    history: [meeting, "auditor"],
    sortName,
    names,
    parents: [meeting],
    fulltext,
  };
}

export function indexMessage(
  change: EntityChange,
  ctx: IndexContext,
  shown: Entity = shownEntity(change),
): OutgoingMessage {
  const { objectType } = kindOf(change.bucket);
  const shape = indexShape(change.bucket, change.uid, change.value, ctx);
  const { authorization, principal } = change.origin;
  return {
    subject: `lfx.index.${objectType}`,
    body: {
      action: change.action,
      headers: {
        authorization: authorization ?? ctx.serviceAuthorization,
        ...(principal === undefined ? {} : { "x-on-behalf-of": principal }),
      },
      data: change.action === "deleted" ? change.uid : withoutSecrets(shown),
      tags: shape.tags,
      indexing_config: {
        object_id: change.uid,
        public: shape.public,
        access_check_object: shape.access[0],
        access_check_relation: shape.access[1],
        history_check_object: shape.history[0],
        history_check_relation: shape.history[1],
        sort_name: shape.sortName,
        name_and_aliases: shape.names,
        parent_refs: shape.parents,
        fulltext: shape.fulltext,
      },
    },
  };
}

// ---- docs/PLATFORM.md §2 ----------------------------------------------------------------------

export type FgaOperation = "update_access" | "delete_access" | "member_put" | "member_remove";

function fga(objectType: string, operation: FgaOperation, data: object): OutgoingMessage {
  return {
    subject: `lfx.fga-sync.${operation}`,
    body: { object_type: objectType, operation, data },
  };
}

/** A meeting's full access state, from the meeting and its settings' organizers. */
export function meetingAccess(uid: string, meeting: Entity, organizers: string[]): OutgoingMessage {
  const projectUid = text(meeting, "project_uid");
  return fga("meeting", "update_access", {
    uid,
    public: meeting["visibility"] === "public",
    relations: { organizer: organizers },
    references: { project: compact([projectUid]), committee: committeeUids(meeting) },
    exclude_relations: ["participant", "host"],
  });
}

export function deleteAccess(objectType: string, uid: string): OutgoingMessage {
  return fga(objectType, "delete_access", { uid });
}

export function pastMeetingAccess(uid: string, pastMeeting: Entity): OutgoingMessage {
  const meetingUid = text(pastMeeting, "meeting_uid");
  return fga("past_meeting", "update_access", {
    uid,
    public: false,
    references: {
      project: compact([text(pastMeeting, "project_uid")]),
      committee: committeeUids(pastMeeting),
      meeting: compact([meetingUid && `meeting:${meetingUid}`]),
    },
    exclude_relations: ["host", "invitee", "attendee"],
  });
}

const MEMBER_RELATIONS = {
  meeting: ["host", "participant"],
  past_meeting: ["host", "invitee", "attendee"],
} as const;

type MemberObject = keyof typeof MEMBER_RELATIONS;

function relationsOf(objectType: MemberObject, member: Entity): string[] {
  if (objectType === "meeting") return [member["host"] === true ? "host" : "participant"];
  return [
    ...(member["host"] === true ? ["host"] : []),
    ...(member["is_invited"] === true ? ["invitee"] : []),
    ...(member["is_attended"] === true ? ["attendee"] : []),
  ];
}

/**
 * A registrant's or participant's membership messages for one change (docs/PLATFORM.md §2): the old
 * username's `member_remove` before the new one's `member_put`.
 */
export function memberMessages(change: EntityChange): OutgoingMessage[] {
  const objectType: MemberObject =
    change.bucket === BUCKET_NAMES.registrants ? "meeting" : "past_meeting";
  const parentField = objectType === "meeting" ? "meeting_uid" : "past_meeting_uid";
  const parent = text(change.value, parentField) ?? text(change.previous ?? {}, parentField);
  if (parent === undefined) return [];
  const remove = (username: string) =>
    fga(objectType, "member_remove", { uid: parent, username, relations: [] });
  const username = text(change.value, "username");
  if (change.action === "deleted") return username === undefined ? [] : [remove(username)];

  const messages: OutgoingMessage[] = [];
  const oldUsername = text(change.previous ?? {}, "username");
  if (oldUsername !== undefined && oldUsername !== username) messages.push(remove(oldUsername));
  if (username === undefined) return messages;
  const relations = relationsOf(objectType, change.value);
  if (relations.length === 0) {
    messages.push(remove(username));
    return messages;
  }
  const all: readonly string[] = MEMBER_RELATIONS[objectType];
  messages.push(
    fga(objectType, "member_put", {
      uid: parent,
      username,
      relations,
      mutually_exclusive_with:
        objectType === "meeting" ? all.filter((r) => !relations.includes(r)) : all,
    }),
  );
  return messages;
}
