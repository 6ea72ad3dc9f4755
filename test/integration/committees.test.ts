// Committee members as registrants (docs/CONTRACT.md §10, docs/PLATFORM.md §5): on meeting create
// and update, and following the committee service's member events in every meeting of the
// committee; and project settings events removing lost organizers. Two instances share the queue
// group, so each event is handled by one of them.
import { randomUUID } from "node:crypto";
import { meetingInput, uniqueEmail } from "../support/builders.js";
import { useServiceHarness } from "../support/harness.js";
import { FakePlatform, type FakeMember } from "../support/platform.js";
import { listAllPages, ok } from "../support/request.js";
import { until } from "../support/until.js";

interface Meeting {
  uid: string;
  revision: number;
  registrant_count: number;
}
interface Registrant {
  uid: string;
  revision: number;
  email: string;
  type: string;
  committee_uid?: string;
  first_name?: string;
  last_name?: string;
}

const VOTING = "Voting Rep";
const ALTERNATE = "Alternate Voting Rep";
const OBSERVER = "Observer";

const harness = useServiceHarness(2, { PLATFORM_LOOKUPS: "on" });
let platform: FakePlatform;
let project: string;

beforeAll(async () => {
  platform = new FakePlatform(harness.client);
  await platform.flush();
  project = randomUUID();
  platform.projects.set(project, "The Project");
});
afterAll(() => platform.stop());

function member(committeeUid: string, status: string, fields: Partial<FakeMember> = {}) {
  const email = uniqueEmail("member");
  return {
    uid: randomUUID(),
    email,
    username: email.split("@")[0] ?? "",
    first_name: "First",
    last_name: "Last",
    voting: { status },
    committee_uid: committeeUid,
    ...fields,
  };
}

function committeeOf(members: (uid: string) => FakeMember[]): {
  uid: string;
  members: FakeMember[];
} {
  const uid = randomUUID();
  const list = members(uid);
  platform.committees.set(uid, list);
  return { uid, members: list };
}

async function createMeeting(committees: { uid: string; allowed_voting_statuses: string[] }[]) {
  return ok<Meeting>(
    harness.client,
    "lfx.meetings.create",
    meetingInput({ project_uid: project, committees }),
  );
}

const registrantsOf = (meetingUid: string) =>
  listAllPages<Registrant>(
    harness.client,
    "lfx.registrants.list",
    { meeting_uid: meetingUid },
    {
      limit: 1000,
    },
  );

const emails = (registrants: Registrant[]) => registrants.map((r) => r.email).sort();

/** Polls until the meeting's registrants are exactly `expected` (emails), and returns them. */
async function untilRegistered(meetingUid: string, expected: string[], timeoutMs = 10_000) {
  const wanted = [...expected].sort();
  return until(
    async () => {
      const found = await registrantsOf(meetingUid);
      return JSON.stringify(emails(found)) === JSON.stringify(wanted) ? found : null;
    },
    { timeoutMs, message: `registrants of ${meetingUid} to be ${wanted.length} emails` },
  );
}

/** Events handled so far by all instances (each logs one line per event it handles). */
function handledEvents(): number {
  return harness.instances
    .flatMap((instance) => instance.logLines)
    .filter((line) => line["msg"] === "platform event handled").length;
}

/** Runs `publish` and waits until `count` more events have been handled. */
async function handling(count: number, publish: () => void): Promise<void> {
  const before = handledEvents();
  publish();
  await until(() => handledEvents() >= before + count, {
    message: `${count} platform events handled`,
  });
}

describe("a meeting's committees make their members registrants", () => {
  it("registers exactly the allowed members of a committee of 500", async () => {
    const statuses = [VOTING, ALTERNATE, OBSERVER, "None"];
    const committee = committeeOf((uid) =>
      Array.from({ length: 500 }, (_, i) => member(uid, statuses[i % statuses.length] ?? "")),
    );
    const allowed = committee.members.filter((m) => [VOTING, ALTERNATE].includes(m.voting.status));
    const meeting = await createMeeting([
      { uid: committee.uid, allowed_voting_statuses: [VOTING, ALTERNATE] },
    ]);

    const registered = await untilRegistered(
      meeting.uid,
      allowed.map((m) => m.email),
      60_000,
    );
    expect(registered).toHaveLength(250);
    for (const registrant of registered) {
      expect(registrant).toMatchObject({ type: "committee", committee_uid: committee.uid });
    }
    const counted = await until(
      async () => {
        const current = await ok<Meeting>(harness.client, "lfx.meetings.get", { uid: meeting.uid });
        return current.registrant_count === 250 ? current : null;
      },
      { message: "registrant_count 250" },
    );
    expect(counted.registrant_count).toBe(250);
  }, 90_000);

  it("registers every member when no status is listed, and leaves direct registrants alone", async () => {
    const committee = committeeOf((uid) => [member(uid, VOTING), member(uid, OBSERVER)]);
    const other = committeeOf((uid) => [member(uid, VOTING)]);
    const meeting = await createMeeting([{ uid: committee.uid, allowed_voting_statuses: [] }]);
    await untilRegistered(
      meeting.uid,
      committee.members.map((m) => m.email),
    );

    // A direct registrant with the email of a member of the committee added next.
    const direct = await ok<Registrant>(harness.client, "lfx.registrants.create", {
      meeting_uid: meeting.uid,
      email: other.members[0]?.email,
    });
    const current = await ok<Meeting>(harness.client, "lfx.meetings.get", { uid: meeting.uid });
    // Replacing the committees: the first committee's registrants go, the second's come, and the
    // direct registrant stays direct.
    await ok(harness.client, "lfx.meetings.update", {
      uid: meeting.uid,
      revision: current.revision,
      committees: [{ uid: other.uid, allowed_voting_statuses: [VOTING] }],
    });
    const after = await untilRegistered(meeting.uid, [direct.email]);
    expect(after).toEqual([expect.objectContaining({ uid: direct.uid, type: "direct" })]);
  });

  it("registers the members later when the committee service did not answer at create", async () => {
    const committee = committeeOf((uid) => [member(uid, VOTING), member(uid, VOTING)]);
    platform.hang("committeeMembers");
    await platform.flush();
    const asked = platform.asked.committeeMembers;
    const meeting = await createMeeting([{ uid: committee.uid, allowed_voting_statuses: [] }]);
    expect(meeting.registrant_count).toBe(0);
    // The sync has asked and gets no answer: nothing is registered ...
    await until(() => platform.asked.committeeMembers > asked, { message: "list_members asked" });
    expect(await registrantsOf(meeting.uid)).toEqual([]);
    // ... and a retry registers the members once the service answers again.
    platform.answer("committeeMembers");
    await platform.flush();
    await untilRegistered(
      meeting.uid,
      committee.members.map((m) => m.email),
      15_000,
    );
  }, 30_000);
});

describe("member events are followed in every meeting of the committee", () => {
  const MEETINGS = 3;
  let committeeUid: string;
  let meetings: Meeting[];
  let voter: FakeMember;

  beforeAll(async () => {
    const committee = committeeOf((uid) => [member(uid, VOTING)]);
    committeeUid = committee.uid;
    voter = committee.members[0] as FakeMember;
    meetings = [];
    for (let i = 0; i < MEETINGS; i++) {
      meetings.push(
        await createMeeting([{ uid: committeeUid, allowed_voting_statuses: [VOTING] }]),
      );
    }
    for (const meeting of meetings) await untilRegistered(meeting.uid, [voter.email]);
  });

  const everywhere = (expected: string[]) =>
    Promise.all(meetings.map((meeting) => untilRegistered(meeting.uid, expected)));

  /** The meetings' registrants, once they are exactly `expected` in every meeting. */
  const registeredEverywhere = async (expected: string[]) => {
    await everywhere(expected);
    return Promise.all(meetings.map((meeting) => registrantsOf(meeting.uid)));
  };

  it("adds a new member whose status is allowed, and not one whose status is not", async () => {
    const joiner = member(committeeUid, VOTING);
    const observer = member(committeeUid, OBSERVER);
    platform.publishMemberEvent("created", observer);
    platform.publishMemberEvent("created", joiner);
    const lists = await everywhere([voter.email, joiner.email]);
    for (const list of lists) {
      expect(list.find((r) => r.email === joiner.email)).toMatchObject({
        type: "committee",
        committee_uid: committeeUid,
      });
    }
    platform.publishMemberEvent("deleted", joiner);
    await everywhere([voter.email]);
  });

  it("moves the registration when a member's email changes, and updates names", async () => {
    const moved = { ...voter, email: uniqueEmail("moved"), first_name: "Renamed" };
    platform.publishMemberEvent("updated", {
      member_uid: voter.uid,
      old_member: voter,
      member: moved,
    });
    const lists = await everywhere([moved.email]);
    for (const list of lists) expect(list[0]?.first_name).toBe("Renamed");

    const renamed = { ...moved, last_name: "Again" };
    platform.publishMemberEvent("updated", {
      member_uid: voter.uid,
      old_member: moved,
      member: renamed,
    });
    await until(
      async () => {
        const all = await Promise.all(meetings.map((m) => registrantsOf(m.uid)));
        return all.every((list) => list.length === 1 && list[0]?.last_name === "Again");
      },
      { message: "last names updated in every meeting" },
    );
    voter = renamed;
  });

  it("removes a member whose status is no longer allowed, and one who left", async () => {
    const demoted = { ...voter, voting: { status: OBSERVER } };
    platform.publishMemberEvent("updated", {
      member_uid: voter.uid,
      old_member: voter,
      member: demoted,
    });
    await everywhere([]);

    const promoted = { ...demoted, voting: { status: VOTING } };
    platform.publishMemberEvent("updated", {
      member_uid: voter.uid,
      old_member: demoted,
      member: promoted,
    });
    await everywhere([promoted.email]);

    platform.publishMemberEvent("deleted", promoted);
    await everywhere([]);
    // The count follows its registrants (group-committed right after each of them).
    await until(
      async () => {
        const counts = await Promise.all(
          meetings.map((m) => ok<Meeting>(harness.client, "lfx.meetings.get", { uid: m.uid })),
        );
        return counts.every((m) => m.registrant_count === 0);
      },
      { message: "registrant_count 0 in every meeting" },
    );
  });

  it("changes nothing more when events are delivered twice", async () => {
    const first = member(committeeUid, VOTING);
    const notAllowed = member(committeeUid, ALTERNATE);
    // Each step delivers its events twice, the copies possibly handled at once by the two
    // instances, and waits until every copy has been handled before looking.
    await handling(4, () => {
      for (let i = 0; i < 2; i++) {
        platform.publishMemberEvent("created", first);
        platform.publishMemberEvent("created", notAllowed);
      }
    });
    const created = await registeredEverywhere([first.email]);

    await handling(2, () => {
      for (let i = 0; i < 2; i++) platform.publishMemberEvent("created", first);
    });
    // Nothing was written: same registrants at the same revisions, same counts.
    expect(await registeredEverywhere([first.email])).toEqual(created);
    await until(
      async () => {
        const counts = await Promise.all(
          meetings.map((m) => ok<Meeting>(harness.client, "lfx.meetings.get", { uid: m.uid })),
        );
        return counts.every((m) => m.registrant_count === 1);
      },
      { message: "registrant_count 1 in every meeting" },
    );

    const moved = { ...first, email: uniqueEmail("replayed") };
    await handling(2, () => {
      for (let i = 0; i < 2; i++) {
        platform.publishMemberEvent("updated", {
          member_uid: first.uid,
          old_member: first,
          member: moved,
        });
      }
    });
    await registeredEverywhere([moved.email]);

    await handling(2, () => {
      for (let i = 0; i < 2; i++) platform.publishMemberEvent("deleted", moved);
    });
    await registeredEverywhere([]);
  });
});

describe("lfx.projects-api.project_settings.updated", () => {
  it("is handled by one instance of the queue group per event", async () => {
    const before = handledEvents();
    const EVENTS = 10;
    for (let i = 0; i < EVENTS; i++) {
      platform.publishProjectSettingsUpdated({
        project_uid: randomUUID(),
        old_settings: {},
        new_settings: {},
      });
    }
    await until(() => handledEvents() >= before + EVENTS, { message: "events handled" });
    // Were each handled by both instances, the count would be on its way to twice as many.
    await handling(1, () => platform.publishProjectSettingsUpdated({ project_uid: randomUUID() }));
    expect(handledEvents()).toBe(before + EVENTS + 1);
  });

  it("removes organizers who lost both roles from every meeting of the project", async () => {
    const projectUid = randomUUID();
    platform.projects.set(projectUid, "Another Project");
    const organizers = ["alice", "bob", "carol", "dave"];
    const created = await Promise.all(
      [1, 2].map(() =>
        ok<Meeting>(
          harness.client,
          "lfx.meetings.create",
          meetingInput({ project_uid: projectUid, organizers }),
        ),
      ),
    );
    const user = (username: string) => ({
      uid: randomUUID(),
      username,
      email: uniqueEmail(),
      name: username,
    });
    platform.publishProjectSettingsUpdated({
      project_uid: projectUid,
      // alice loses writer; bob moves from writer to coordinator; carol keeps coordinator;
      // dave was never a writer or coordinator, only an organizer named by hand.
      old_settings: {
        writers: [user("alice"), user("bob")],
        meeting_coordinators: [user("carol")],
        auditors: [],
      },
      new_settings: {
        writers: [],
        meeting_coordinators: [user("carol"), user("bob")],
        auditors: [user("alice")],
      },
    });
    for (const meeting of created) {
      const settings = await until(
        async () => {
          const found = await ok<{ organizers: string[] }>(
            harness.client,
            "lfx.meeting-settings.get",
            { uid: meeting.uid },
          );
          return found.organizers.includes("alice") ? null : found;
        },
        { message: "alice removed from organizers" },
      );
      expect(settings.organizers).toEqual(["bob", "carol", "dave"]);
    }
  });

  it("leaves the meetings of other projects alone", async () => {
    const meeting = await ok<Meeting>(
      harness.client,
      "lfx.meetings.create",
      meetingInput({ project_uid: project, organizers: ["erin", "frank"] }),
    );
    const writer = (username: string) => ({
      uid: randomUUID(),
      username,
      email: uniqueEmail(),
      name: username,
    });
    await handling(2, () => {
      // erin loses her role in another project, frank his in this one.
      platform.publishProjectSettingsUpdated({
        project_uid: randomUUID(),
        old_settings: { writers: [writer("erin")] },
        new_settings: { writers: [] },
      });
      platform.publishProjectSettingsUpdated({
        project_uid: project,
        old_settings: { writers: [writer("frank")] },
        new_settings: { writers: [] },
      });
    });
    const settings = await ok<{ organizers: string[] }>(
      harness.client,
      "lfx.meeting-settings.get",
      { uid: meeting.uid },
    );
    expect(settings.organizers).toEqual(["erin"]);
  });
});
