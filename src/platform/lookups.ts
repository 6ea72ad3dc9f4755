// What the service asks of the platform's project, committee and auth services (docs/PLATFORM.md
// §3, docs/CONTRACT.md §10), as handlers see it: an interface without NATS, implemented over
// request-reply in platform/nats-lookups.ts. With PLATFORM_LOOKUPS=off there is no implementation
// at all (HandlerDeps.platform is undefined) and nothing is looked up or followed.

/** A committee member as `lfx.committee-api.list_members` and the member events carry it. */
export interface CommitteeMember {
  uid?: string;
  username?: string;
  email: string;
  first_name?: string;
  last_name?: string;
  job_title?: string;
  organization?: { name?: string; website?: string };
  voting?: { status?: string };
  role?: { name?: string };
  committee_uid?: string;
}

export interface PlatformLookups {
  /**
   * Whether the project exists (`lfx.projects-api.get_name`). Throws `unavailable` when the
   * project service does not answer in time, so the request that needed it is a 503.
   */
  projectExists(projectUid: string): Promise<boolean>;
  /** The project's name (the same answer, cached alike), or undefined when there is none. */
  projectName(projectUid: string): Promise<string | undefined>;
  /** Whether the committee exists (`lfx.committee-api.get_name`); `unavailable` as above. */
  committeeExists(committeeUid: string): Promise<boolean>;
  /** Every member of the committee (`lfx.committee-api.list_members`); `unavailable` as above. */
  committeeMembers(committeeUid: string): Promise<CommitteeMember[]>;
  /**
   * The username of an email (`lfx.auth-service.email_to_username`), or undefined when there is
   * none or the auth service does not answer: a username is a nicety that must not fail a write.
   */
  usernameOf(email: string): Promise<string | undefined>;
}

/** Whether a member's voting status lets them in: every member when the list is empty (§10). */
export function votingStatusAllowed(
  member: CommitteeMember,
  allowedStatuses: readonly string[] | undefined,
): boolean {
  if (allowedStatuses === undefined || allowedStatuses.length === 0) return true;
  const status = member.voting?.status;
  return status !== undefined && allowedStatuses.includes(status);
}

/** Members as they come over the wire: anything without an email cannot be registered. */
export function parseMember(value: unknown): CommitteeMember | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const email = (value as { email?: unknown }).email;
  if (typeof email !== "string" || email === "") return undefined;
  return value as CommitteeMember;
}
