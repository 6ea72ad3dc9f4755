// What each endpoint requires of its caller (docs/CONTRACT.md §8), declared next to the endpoint in
// its handler table: `Endpoint.access` is required, so an endpoint without a declaration does not
// compile. The adapter (rpc/adapter.ts) evaluates the declaration and asks the platform through the
// access checker (access-check.ts); handlers only say which relation on which object.
import type { Caller } from "../request-scope.js";

/** One OpenFGA relation on one object: `meeting:<uid>#organizer`. */
export interface Relation {
  object: string;
  relation: string;
}

/** What a caller needs: a relation, or nothing beyond a verified token. */
export type Requirement = Relation | typeof ANY_CALLER;

/** Any verified caller (lists whose items are checked one by one, public artifacts, own RSVPs). */
export const ANY_CALLER = "any caller";

/** A list item, as the handler returns it in `items`. */
export type ListItem = Record<string, unknown>;

export interface Access<R> {
  /** What the request needs; may read storage to find the object (a registrant's meeting). */
  request(request: R, caller: Caller): Requirement | Promise<Requirement>;
  /**
   * Lists only: what each item needs to be shown. Items the caller lacks it for are left out of
   * the page (which may then be shorter; its cursor still continues after them).
   */
  item?(item: ListItem): Requirement;
}

export function meetingRelation(uid: string, relation: "viewer" | "organizer"): Relation {
  return { object: `meeting:${uid}`, relation };
}

export function pastMeetingRelation(
  uid: string,
  relation: "viewer" | "organizer" | "host",
): Relation {
  return { object: `past_meeting:${uid}`, relation };
}

export function projectRelation(uid: string, relation: "meetings_creator"): Relation {
  return { object: `project:${uid}`, relation };
}

/** The line a check is asked and answered with (docs/PLATFORM.md §3), also its cache key. */
export function checkLine(requirement: Relation, principal: string): string {
  return `${requirement.object}#${requirement.relation}@user:${principal}`;
}

/** An item's string field, for `Access.item` (items are the handler's replies, typed loosely). */
export function itemField(item: ListItem, field: string): string {
  const value = item[field];
  return typeof value === "string" ? value : "";
}
