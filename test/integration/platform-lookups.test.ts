// PLATFORM_LOOKUPS=on (docs/CONTRACT.md §10): projects and committees must exist, usernames come
// from the auth service. The platform's services are played by FakePlatform on the test's server.
import { randomUUID } from "node:crypto";
import { meetingInput, uniqueEmail } from "../support/builders.js";
import { useServiceHarness } from "../support/harness.js";
import { FakePlatform } from "../support/platform.js";
import { ok, request } from "../support/request.js";

interface ErrorBody {
  error: {
    status: number;
    code: string;
    details?: { path: string; message: string }[];
    retry_after_ms?: number;
  };
}
interface Meeting {
  uid: string;
  revision: number;
  project_uid: string;
}
interface Person {
  uid: string;
  revision: number;
  email: string;
  username?: string;
}

const PLATFORM_TIMEOUT_MS = 300;
const harness = useServiceHarness(1, {
  PLATFORM_LOOKUPS: "on",
  PLATFORM_TIMEOUT_MS: String(PLATFORM_TIMEOUT_MS),
});
let platform: FakePlatform;

beforeAll(async () => {
  platform = new FakePlatform(harness.client);
  await platform.flush();
});
afterEach(async () => {
  for (const responder of ["projectName", "committeeName", "emailToUsername"] as const) {
    platform.answer(responder);
  }
  await platform.flush();
});
afterAll(() => platform.stop());

function knownProject(): string {
  const uid = randomUUID();
  platform.projects.set(uid, `Project ${uid.slice(0, 8)}`);
  return uid;
}
function knownCommittee(): string {
  const uid = randomUUID();
  platform.committees.set(uid, []);
  return uid;
}
const create = (fields: Record<string, unknown>) =>
  request<Meeting & ErrorBody>(harness.client, "lfx.meetings.create", meetingInput(fields));

describe("meetings name projects and committees that exist", () => {
  it("creates a meeting whose project and committees are known", async () => {
    const committee = knownCommittee();
    const reply = await create({
      project_uid: knownProject(),
      committees: [{ uid: committee, allowed_voting_statuses: [] }],
    });
    expect(reply.status).toBe(200);
  });

  it("is a 400 naming /project_uid for an unknown project", async () => {
    const reply = await create({ project_uid: randomUUID() });
    expect(reply.status).toBe(400);
    expect(reply.body.error.code).toBe("invalid_request");
    expect(reply.body.error.details).toEqual([
      { path: "/project_uid", message: expect.any(String) as string },
    ]);
  });

  it("is a 400 naming every unknown committee by its index", async () => {
    const reply = await create({
      project_uid: knownProject(),
      committees: [
        { uid: knownCommittee(), allowed_voting_statuses: [] },
        { uid: randomUUID(), allowed_voting_statuses: [] },
        { uid: randomUUID(), allowed_voting_statuses: ["Voting Rep"] },
      ],
    });
    expect(reply.status).toBe(400);
    expect(reply.body.error.details?.map((d) => d.path).sort()).toEqual([
      "/committees/1/uid",
      "/committees/2/uid",
    ]);
  });

  it("checks on update only what changed, and refuses an unknown new project or committee", async () => {
    const committee = knownCommittee();
    const meeting = await ok<Meeting>(
      harness.client,
      "lfx.meetings.create",
      meetingInput({
        project_uid: knownProject(),
        committees: [{ uid: committee, allowed_voting_statuses: [] }],
      }),
    );
    const unknownProject = await request<ErrorBody>(harness.client, "lfx.meetings.update", {
      uid: meeting.uid,
      revision: meeting.revision,
      project_uid: randomUUID(),
    });
    expect(unknownProject.status).toBe(400);
    expect(unknownProject.body.error.details?.map((d) => d.path)).toEqual(["/project_uid"]);

    const unknownCommittee = await request<ErrorBody>(harness.client, "lfx.meetings.update", {
      uid: meeting.uid,
      revision: meeting.revision,
      committees: [
        { uid: committee, allowed_voting_statuses: [] },
        { uid: randomUUID(), allowed_voting_statuses: [] },
      ],
    });
    expect(unknownCommittee.status).toBe(400);
    expect(unknownCommittee.body.error.details?.map((d) => d.path)).toEqual(["/committees/1/uid"]);

    // The meeting's own committee is not asked again: with the committee service gone, an
    // update that keeps it (and changes the title) still goes through.
    platform.silence("committeeName");
    await platform.flush();
    const asked = platform.asked.committeeName;
    const kept = await request<Meeting>(harness.client, "lfx.meetings.update", {
      uid: meeting.uid,
      revision: meeting.revision,
      title: "Renamed",
      committees: [{ uid: committee, allowed_voting_statuses: ["Voting Rep"] }],
    });
    expect(kept.status).toBe(200);
    expect(platform.asked.committeeName).toBe(asked);
  });

  it("checks the project of a past meeting", async () => {
    const meeting = await ok<Meeting>(
      harness.client,
      "lfx.meetings.create",
      meetingInput({ project_uid: knownProject() }),
    );
    const reply = await request<ErrorBody>(harness.client, "lfx.past-meetings.create", {
      meeting_uid: meeting.uid,
      project_uid: randomUUID(),
      scheduled_start_time: "2030-01-15T15:00:00Z",
      scheduled_end_time: "2030-01-15T16:00:00Z",
    });
    expect(reply.status).toBe(400);
    expect(reply.body.error.details?.map((d) => d.path)).toEqual(["/project_uid"]);
  });
});

describe("when the platform does not answer", () => {
  it("is a 503 with retry_after_ms when no project service is subscribed", async () => {
    platform.silence("projectName");
    await platform.flush();
    const reply = await create({ project_uid: knownProject() });
    expect(reply.status).toBe(503);
    expect(reply.body.error.code).toBe("unavailable");
    expect(reply.body.error.retry_after_ms).toEqual(expect.any(Number));
  });

  it("is a 503 when the committee service takes longer than PLATFORM_TIMEOUT_MS", async () => {
    platform.hang("committeeName");
    await platform.flush();
    const reply = await create({
      project_uid: knownProject(),
      committees: [{ uid: knownCommittee(), allowed_voting_statuses: [] }],
    });
    expect(reply.status).toBe(503);
    expect(reply.body.error.retry_after_ms).toEqual(expect.any(Number));
  });

  it("keeps a known project's answer for a while (docs/CONTRACT.md §10: at most 60 s)", async () => {
    const project = knownProject();
    expect((await create({ project_uid: project })).status).toBe(200);
    platform.silence("projectName");
    await platform.flush();
    expect((await create({ project_uid: project })).status).toBe(200);
  });
});

describe("usernames from the auth service", () => {
  let meeting: Meeting;
  beforeAll(async () => {
    meeting = await ok<Meeting>(
      harness.client,
      "lfx.meetings.create",
      meetingInput({ project_uid: knownProject() }),
    );
  });

  it("fills a registrant's username when the email has one, and keeps a given one", async () => {
    const email = uniqueEmail();
    platform.usernames.set(email, "ada");
    const filled = await ok<Person>(harness.client, "lfx.registrants.create", {
      meeting_uid: meeting.uid,
      email: email.toUpperCase(),
    });
    expect(filled.username).toBe("ada");

    const other = uniqueEmail();
    platform.usernames.set(other, "grace");
    const given = await ok<Person>(harness.client, "lfx.registrants.create", {
      meeting_uid: meeting.uid,
      email: other,
      username: "given",
    });
    expect(given.username).toBe("given");
  });

  it("leaves it absent when there is none or the auth service does not answer", async () => {
    const none = await ok<Person>(harness.client, "lfx.registrants.create", {
      meeting_uid: meeting.uid,
      email: uniqueEmail(),
    });
    expect(none).not.toHaveProperty("username");

    platform.silence("emailToUsername");
    await platform.flush();
    const email = uniqueEmail();
    platform.usernames.set(email, "not-asked");
    const unanswered = await request<Person>(harness.client, "lfx.registrants.create", {
      meeting_uid: meeting.uid,
      email,
    });
    expect(unanswered.status).toBe(200);
    expect(unanswered.body).not.toHaveProperty("username");
  });

  it("looks the username up again when a registrant's email changes", async () => {
    const registrant = await ok<Person>(harness.client, "lfx.registrants.create", {
      meeting_uid: meeting.uid,
      email: uniqueEmail(),
    });
    const email = uniqueEmail();
    platform.usernames.set(email, "linus");
    const updated = await ok<Person>(harness.client, "lfx.registrants.update", {
      uid: registrant.uid,
      revision: registrant.revision,
      email,
    });
    expect(updated.username).toBe("linus");
  });

  it("fills a participant's username on create and on join", async () => {
    const past = await ok<{ uid: string }>(harness.client, "lfx.past-meetings.create", {
      meeting_uid: meeting.uid,
      scheduled_start_time: "2030-01-15T15:00:00Z",
      scheduled_end_time: "2030-01-15T16:00:00Z",
    });
    const created = uniqueEmail();
    const joined = uniqueEmail();
    platform.usernames.set(created, "margaret");
    platform.usernames.set(joined, "barbara");
    const participant = await ok<Person>(harness.client, "lfx.participants.create", {
      past_meeting_uid: past.uid,
      email: created,
    });
    expect(participant.username).toBe("margaret");
    const joiner = await ok<Person>(harness.client, "lfx.participants.join", {
      past_meeting_uid: past.uid,
      email: joined,
      joined_at: "2030-01-15T15:01:00Z",
    });
    expect(joiner.username).toBe("barbara");
  });
});
