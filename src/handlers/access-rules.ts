// The objects that endpoints' access declarations (auth/access.ts) name, when the request does not
// name them itself: a registrant's meeting, an artifact's past meeting and its
// `artifact_visibility` (docs/CONTRACT.md §8). Each is one direct KV get of the entity the request is
// about; an entity that does not exist is a 404, as the handler would have answered.
import {
  ANY_CALLER,
  meetingRelation,
  pastMeetingRelation,
  projectRelation,
  type Relation,
  type Requirement,
} from "../auth/access.js";
import { notFound } from "../errors.js";
import type { Caller } from "../request-scope.js";
import type { IndexedRepository } from "../store/kv/indexed-repository.js";
import { directKey } from "../store/kv/keys.js";
import { registrantKey } from "../store/resources/registrants.js";
import type { HandlerDeps } from "./deps.js";

export interface AccessRules {
  /** `meeting:<uid>#organizer` of the registrant's meeting. */
  registrantOrganizer(uid: string): Promise<Relation>;
  /** A registrant's own answer (its username is the caller's), else the meeting's organizer. */
  ownAnswerOrOrganizer(
    meetingUid: string,
    registrantUid: string,
    caller: Caller,
  ): Promise<Requirement>;
  /** The same, for an existing RSVP (which keeps its registrant's username). */
  rsvpOwnerOrOrganizer(uid: string, caller: Caller): Promise<Requirement>;
  /** `project:<project_uid>#meetings_creator`, the project given or the meeting's. */
  pastMeetingCreator(meetingUid: string, projectUid: string | undefined): Promise<Relation>;
  /** `past_meeting:<p>#organizer` of the entity's past meeting (participants, artifacts). */
  childOrganizer(
    repo: IndexedRepository<PastMeetingChild>,
    entity: string,
    uid: string,
  ): Promise<Relation>;
  /** Who may read a past meeting's artifacts, by its `artifact_visibility`. */
  artifactReader(pastMeetingUid: string): Promise<Requirement>;
  /** `artifactReader` for the past meeting of an existing artifact. */
  artifactReaderOf(
    repo: IndexedRepository<PastMeetingChild>,
    entity: string,
    uid: string,
  ): Promise<Requirement>;
}

export interface PastMeetingChild {
  uid: string;
  past_meeting_uid: string;
}

export function accessRules({ repos }: HandlerDeps): AccessRules {
  async function registrant(uid: string) {
    const found = await repos.registrants.get(registrantKey(uid));
    if (found === null) throw notFound("registrant", uid);
    return found.value;
  }

  async function pastMeetingUidOf(
    repo: IndexedRepository<PastMeetingChild>,
    entity: string,
    uid: string,
  ): Promise<string> {
    const found = await repo.get(directKey(uid));
    if (found === null) throw notFound(entity, uid);
    return found.value.past_meeting_uid;
  }

  const ownOrOrganizer = (meetingUid: string, username: string | undefined, caller: Caller) =>
    username !== undefined && caller.username !== undefined && username === caller.username
      ? ANY_CALLER
      : meetingRelation(meetingUid, "organizer");

  async function artifactReader(pastMeetingUid: string): Promise<Requirement> {
    const found = await repos.pastMeetings.get(directKey(pastMeetingUid));
    if (found === null) throw notFound("past meeting", pastMeetingUid);
    // As the search index shows them (docs/PLATFORM.md §1): public artifacts to any caller, those of
    // meeting hosts to hosts; participants' (and a past meeting without the field) to viewers.
    switch (found.value.artifact_visibility) {
      case "public":
        return ANY_CALLER;
      case "meeting_hosts":
        return pastMeetingRelation(pastMeetingUid, "host");
      default:
        return pastMeetingRelation(pastMeetingUid, "viewer");
    }
  }

  return {
    async registrantOrganizer(uid) {
      return meetingRelation((await registrant(uid)).meeting_uid, "organizer");
    },

    async ownAnswerOrOrganizer(meetingUid, registrantUid, caller) {
      const found = await repos.registrants.get(registrantKey(registrantUid));
      // A registrant of another meeting (or none) is the handler's 404; only organizers learn it.
      const own = found !== null && found.value.meeting_uid === meetingUid;
      return ownOrOrganizer(meetingUid, own ? found.value.username : undefined, caller);
    },

    async rsvpOwnerOrOrganizer(uid, caller) {
      const found = await repos.rsvps.get(directKey(uid));
      if (found === null) throw notFound("rsvp", uid);
      return ownOrOrganizer(found.value.meeting_uid, found.value.username, caller);
    },

    async pastMeetingCreator(meetingUid, projectUid) {
      if (projectUid !== undefined) return projectRelation(projectUid, "meetings_creator");
      const meeting = await repos.meetings.get(directKey(meetingUid));
      if (meeting === null) throw notFound("meeting", meetingUid);
      return projectRelation(meeting.value.project_uid, "meetings_creator");
    },

    async childOrganizer(repo, entity, uid) {
      return pastMeetingRelation(await pastMeetingUidOf(repo, entity, uid), "organizer");
    },

    artifactReader,

    async artifactReaderOf(repo, entity, uid) {
      return artifactReader(await pastMeetingUidOf(repo, entity, uid));
    },
  };
}
