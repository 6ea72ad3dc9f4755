// Committee members as registrants (docs/CONTRACT.md §10, docs/PLATFORM.md §5). A meeting's
// `committees[{uid, allowed_voting_statuses}]` makes each member whose voting status is allowed
// (every member when the list is empty) a registrant of type `committee` with `committee_uid`.
// Registrants are created and deleted by the same use cases as `lfx.registrants.*`
// (registrant-writes.ts), so claims, index keys, counts and events are those of any registration.
// Direct registrants are never touched: a member whose email is registered directly stays a
// direct registrant.
//
// Two ways in:
// - `scheduleMeetingSync`: after a meeting is created or its committees change, the whole meeting
//   is reconciled with `list_members` in the background (the request does not wait for hundreds
//   of registrations), retried with back-off when the committee service does not answer;
// - member events (`committee_member.created|updated|deleted`): applied to every meeting of the
//   committee, found through the meetings bucket's committee index, never a scan.
// Both are idempotent: they compare what is stored with what should be and write only the
// difference, so a replayed event or a repeated sync changes nothing.
import pLimit from "p-limit";
import { AppError } from "../errors.js";
import type { RegistrantsCreateRequest } from "../generated/schema-types.js";
import type { Logger } from "../logger.js";
import {
  votingStatusAllowed,
  type CommitteeMember,
  type PlatformLookups,
} from "../platform/lookups.js";
import { directKey, lastSegment } from "../store/kv/keys.js";
import type { Versioned } from "../store/kv/kv-repository.js";
import { meetingIndexPrefix, type StoredMeeting } from "../store/resources/meetings.js";
import {
  registrantKey,
  registrantsOfMeetingPrefix,
  type StoredRegistrant,
} from "../store/resources/registrants.js";
import { replaceAt } from "./entity-writes.js";
import { normalizeEmail, registrantWrites, type RegistrantWrites } from "./registrant-writes.js";
import type { HandlerDeps } from "./deps.js";

/** Registrations written at once by one sync or event (each is a few KV round trips). */
const WRITE_CONCURRENCY = 8;
/** Meetings of one committee handled at once for one event. */
const MEETING_CONCURRENCY = 4;
/** Back-off of a meeting sync whose committee service did not answer: 1 s, 2 s, ... 32 s. */
const SYNC_RETRY_BASE_MS = 1000;
const SYNC_ATTEMPTS = 7;
const MAX_UPDATE_ATTEMPTS = 5;

/** `lfx.committee-api.committee_member.*`, as platform/subscriptions.ts hands it over. */
export type MemberChange =
  | { kind: "created"; committeeUid: string; member: CommitteeMember }
  | {
      kind: "updated";
      committeeUid: string;
      oldMember: CommitteeMember | undefined;
      member: CommitteeMember;
    }
  | { kind: "deleted"; committeeUid: string; member: CommitteeMember };

export interface CommitteeMembers {
  /** Reconciles the meeting's committee registrants in the background (after create/update). */
  scheduleMeetingSync(meetingUid: string, log: Logger): void;
  /** Reconciles the meeting's committee registrants now; throws when a list is unavailable. */
  syncMeeting(meetingUid: string, log: Logger): Promise<void>;
  /** Applies one member event to every meeting of its committee. */
  applyMemberChange(change: MemberChange, log: Logger): Promise<void>;
  /** Stops scheduling retries; resolves when the syncs under way have ended. */
  stop(): Promise<void>;
}

const shared = new WeakMap<HandlerDeps, CommitteeMembers>();

/** One per set of dependencies (one per instance): meetings.ts and the subscriptions share it. */
export function committeeMembers(deps: HandlerDeps): CommitteeMembers | undefined {
  const platform = deps.platform;
  if (platform === undefined) return undefined;
  let found = shared.get(deps);
  if (found === undefined) {
    found = createCommitteeMembers(deps, platform);
    shared.set(deps, found);
  }
  return found;
}

/** The registrant a member should be of a meeting, through one of its committees. */
function registrationOf(
  meetingUid: string,
  committeeUid: string,
  member: CommitteeMember,
): RegistrantsCreateRequest {
  return {
    meeting_uid: meetingUid,
    email: normalizeEmail(member.email),
    type: "committee",
    committee_uid: committeeUid,
    ...personOf(member),
  };
}

/** The fields a member's record gives a registrant (and keeps up to date on member updates). */
function personOf(member: CommitteeMember): Partial<StoredRegistrant> {
  const person: Partial<StoredRegistrant> = {};
  const text = (value: string | undefined) =>
    typeof value === "string" && value !== "" ? value.slice(0, 256) : undefined;
  const firstName = text(member.first_name);
  const lastName = text(member.last_name);
  const jobTitle = text(member.job_title);
  const orgName = text(member.organization?.name);
  const username = text(member.username);
  if (firstName !== undefined) person.first_name = firstName;
  if (lastName !== undefined) person.last_name = lastName;
  if (jobTitle !== undefined) person.job_title = jobTitle;
  if (orgName !== undefined) person.org_name = orgName;
  if (username !== undefined) person.username = username;
  return person;
}

function isCommitteeRegistrant(registrant: StoredRegistrant, committeeUid: string): boolean {
  return registrant.type === "committee" && registrant.committee_uid === committeeUid;
}

function createCommitteeMembers(deps: HandlerDeps, platform: PlatformLookups): CommitteeMembers {
  const { repos } = deps;
  const writes: RegistrantWrites = registrantWrites(deps);
  /** Meetings with a sync under way, and whether another was asked for meanwhile. */
  const running = new Map<string, { again: boolean; done: Promise<void> }>();
  const retryTimers = new Set<NodeJS.Timeout>();
  let stopped = false;

  /**
   * Creates the registration. A registration of the same email that won (a direct one, or a
   * concurrent sync or event) stands, and a meeting deleted meanwhile needs none: no error.
   */
  async function register(request: RegistrantsCreateRequest, log: Logger): Promise<void> {
    try {
      await writes.create(request, deps.newId(), log);
    } catch (err) {
      if (err instanceof AppError && (err.code === "conflict" || err.code === "not_found")) return;
      throw err;
    }
  }

  async function unregister(found: Versioned<StoredRegistrant>, log: Logger): Promise<void> {
    try {
      await writes.remove(found.value.uid, found.revision, log);
    } catch (err) {
      // Deleted or changed meanwhile: whoever did it decided; a later event or sync catches up.
      if (err instanceof AppError && (err.code === "not_found" || err.code === "conflict")) return;
      throw err;
    }
  }

  /** Brings the registrant's personal fields in line with the member's record. */
  async function refresh(
    found: Versioned<StoredRegistrant>,
    member: CommitteeMember,
    log: Logger,
  ): Promise<void> {
    let current: Versioned<StoredRegistrant> | null = found;
    for (let attempt = 0; attempt < MAX_UPDATE_ATTEMPTS && current !== null; attempt++) {
      const person = personOf(member);
      const changed = Object.entries(person).some(
        ([field, value]) => current?.value[field as keyof StoredRegistrant] !== value,
      );
      if (!changed) return;
      const next: StoredRegistrant = {
        ...current.value,
        ...person,
        updated_at: deps.now().toISOString(),
      };
      try {
        await replaceAt(repos.registrants, current, next, "registrant");
        return;
      } catch (err) {
        if (!(err instanceof AppError && err.code === "conflict")) throw err;
        current = await repos.registrants.get(registrantKey(found.value.uid));
      }
    }
    if (current === null) return; // deleted meanwhile: nothing to refresh
    log.warn(
      { registrant_uid: found.value.uid },
      "committee registrant not refreshed: kept changing",
    );
  }

  /** Every registrant of the meeting, read through the index keys of the registrants bucket. */
  async function registrantsOf(meetingUid: string): Promise<Versioned<StoredRegistrant>[]> {
    const all: Versioned<StoredRegistrant>[] = [];
    for await (const keys of repos.registrants.allKeysUnder(
      registrantsOfMeetingPrefix(meetingUid),
    )) {
      const found = await Promise.all(
        keys.map((key) => repos.registrants.get(registrantKey(lastSegment(key)))),
      );
      for (const registrant of found) {
        if (registrant !== null && registrant.value.meeting_uid === meetingUid)
          all.push(registrant);
      }
    }
    return all;
  }

  async function syncMeeting(meetingUid: string, log: Logger): Promise<void> {
    const found = await repos.meetings.get(directKey(meetingUid));
    if (found === null) return;
    const meeting = found.value;
    const committees = meeting.committees ?? [];
    // Every list first: a sync that cannot see a committee changes nothing (it never removes
    // members it merely could not list), and is retried.
    const lists = await Promise.all(committees.map((c) => platform.committeeMembers(c.uid)));
    /** email -> committee uid -> member, for the members allowed in. */
    const wanted = new Map<string, Map<string, CommitteeMember>>();
    committees.forEach((committee, index) => {
      for (const member of lists[index] ?? []) {
        if (!votingStatusAllowed(member, committee.allowed_voting_statuses)) continue;
        const email = normalizeEmail(member.email);
        const byCommittee = wanted.get(email) ?? new Map<string, CommitteeMember>();
        if (!byCommittee.has(committee.uid)) byCommittee.set(committee.uid, member);
        wanted.set(email, byCommittee);
      }
    });

    const limit = pLimit(WRITE_CONCURRENCY);
    const existing = await registrantsOf(meetingUid);
    const registered = new Set<string>();
    const removals: (() => Promise<void>)[] = [];
    const changes: (() => Promise<void>)[] = [];
    for (const registrant of existing) {
      const { email, type, committee_uid } = registrant.value;
      const member =
        committee_uid === undefined ? undefined : wanted.get(email)?.get(committee_uid);
      if (type !== "committee") {
        registered.add(email);
      } else if (member === undefined) {
        removals.push(() => unregister(registrant, log));
      } else {
        registered.add(email);
        changes.push(() => refresh(registrant, member, log));
      }
    }
    for (const [email, byCommittee] of wanted) {
      if (registered.has(email)) continue;
      // A member of several of the meeting's committees is registered through the first.
      const first = committees.find((c) => byCommittee.has(c.uid));
      const member = first === undefined ? undefined : byCommittee.get(first.uid);
      if (first === undefined || member === undefined) continue;
      changes.push(() => register(registrationOf(meetingUid, first.uid, member), log));
    }
    // Removals first: a member who moves from one committee of the meeting to another is
    // registered again only once the old registration has released the email's claim.
    const results = await Promise.allSettled(removals.map((write) => limit(write)));
    results.push(...(await Promise.allSettled(changes.map((write) => limit(write)))));
    const failed = results.filter((r) => r.status === "rejected");
    if (failed.length > 0) {
      throw new AppError(
        "unavailable",
        `${failed.length} committee registrations not written`,
        undefined,
        { cause: (failed[0] as PromiseRejectedResult).reason },
      );
    }
  }

  /** Runs a sync now and again while more are asked for, retrying with back-off. */
  function scheduleMeetingSync(meetingUid: string, log: Logger, attempt = 1): void {
    if (stopped) return;
    const current = running.get(meetingUid);
    if (current !== undefined) {
      current.again = true;
      return;
    }
    const entry = { again: false, done: Promise.resolve() };
    running.set(meetingUid, entry);
    entry.done = (async () => {
      let failedAttempt = 0;
      do {
        entry.again = false;
        try {
          await syncMeeting(meetingUid, log);
        } catch (err) {
          failedAttempt = attempt;
          log.warn({ err, meeting_uid: meetingUid, attempt }, "committee members not synced yet");
        }
      } while (entry.again && !stopped);
      running.delete(meetingUid);
      if (failedAttempt === 0 || stopped) return;
      if (failedAttempt >= SYNC_ATTEMPTS) {
        log.error(
          { meeting_uid: meetingUid, attempts: failedAttempt },
          "committee members not synced; the next change of its committees or members retries",
        );
        return;
      }
      const timer = setTimeout(
        () => {
          retryTimers.delete(timer);
          scheduleMeetingSync(meetingUid, log, failedAttempt + 1);
        },
        SYNC_RETRY_BASE_MS * 2 ** (failedAttempt - 1),
      );
      timer.unref();
      retryTimers.add(timer);
    })();
  }

  /** One member change in one meeting that includes the committee. */
  async function applyToMeeting(
    meeting: StoredMeeting,
    change: MemberChange,
    log: Logger,
  ): Promise<void> {
    const committee = (meeting.committees ?? []).find((c) => c.uid === change.committeeUid);
    if (committee === undefined) return; // the index key is left from an earlier version
    const member = change.member;
    const email = normalizeEmail(member.email);
    const ofCommittee = async (address: string) => {
      const found = await writes.findByEmail(meeting.uid, address);
      return found !== null && isCommitteeRegistrant(found.value, committee.uid) ? found : null;
    };

    // An email change moves the registration: the old one goes, a new one is made (with the
    // new email's RSVPs starting empty, as for any new registration).
    if (change.kind === "updated" && change.oldMember !== undefined) {
      const oldEmail = normalizeEmail(change.oldMember.email);
      if (oldEmail !== email) {
        const old = await ofCommittee(oldEmail);
        if (old !== null) await unregister(old, log);
      }
    }
    if (change.kind === "deleted") {
      const registered = await ofCommittee(email);
      if (registered !== null) await unregister(registered, log);
      return;
    }
    if (!votingStatusAllowed(member, committee.allowed_voting_statuses)) {
      const registered = await ofCommittee(email);
      if (registered !== null) await unregister(registered, log);
      return;
    }
    const found = await writes.findByEmail(meeting.uid, email);
    if (found === null) {
      await register(registrationOf(meeting.uid, committee.uid, member), log);
    } else if (isCommitteeRegistrant(found.value, committee.uid)) {
      await refresh(found, member, log);
    }
  }

  async function applyMemberChange(change: MemberChange, log: Logger): Promise<void> {
    const limit = pLimit(MEETING_CONCURRENCY);
    const prefix = meetingIndexPrefix({ kind: "committee", uid: change.committeeUid });
    const failures: unknown[] = [];
    for await (const keys of repos.meetings.allKeysUnder(prefix)) {
      await Promise.all(
        keys.map((key) =>
          limit(async () => {
            try {
              const meeting = await repos.meetings.get(directKey(lastSegment(key)));
              if (meeting !== null) await applyToMeeting(meeting.value, change, log);
            } catch (err) {
              failures.push(err);
            }
          }),
        ),
      );
    }
    if (failures.length > 0) {
      throw new AppError(
        "unavailable",
        `member change not applied to ${failures.length} meetings`,
        undefined,
        {
          cause: failures[0],
        },
      );
    }
  }

  return {
    scheduleMeetingSync: (meetingUid, log) => scheduleMeetingSync(meetingUid, log),
    syncMeeting,
    applyMemberChange,
    async stop() {
      stopped = true;
      for (const timer of retryTimers) clearTimeout(timer);
      retryTimers.clear();
      await Promise.all([...running.values()].map((entry) => entry.done));
    },
  };
}
