// docs/CONTRACT.md §9, docs/PLATFORM.md §1, §2, §4: every committed change of every entity produces
// its search-index message (`lfx.index.<object_type>`), its access-control messages (acknowledged
// by the `fga-sync-events` stream, created here as the platform would) and its event, in the order
// of the entity's changes. Two instances run: in steady state each change is sent once.
import { randomUUID } from "node:crypto";
import { jetstream } from "@nats-io/jetstream";
import { createLogger } from "../../src/logger.js";
import { reindex } from "../../src/outbox/reindex.js";
import { meetingInput, uniqueEmail } from "../support/builders.js";
import { useServiceHarness } from "../support/harness.js";
import {
  createFgaStream,
  fgaMessages,
  fgaOf,
  PlatformRecorder,
  type IndexMessage,
} from "../support/platform-messages.js";
import { ok, request } from "../support/request.js";
import { until } from "../support/until.js";

interface Entity {
  uid: string;
  revision: number;
  [field: string]: unknown;
}

const harness = useServiceHarness(2);
let platform: PlatformRecorder;

beforeAll(async () => {
  await createFgaStream(harness.client);
  platform = new PlatformRecorder(harness.client);
  await platform.ready();
});

/** Waits for the index message of `uid` at `revision` and returns every index message of it. */
async function indexedUpTo(uid: string, revision: number) {
  await until(() => platform.indexOf(uid).some((m) => revisionOf(m.body) >= revision), {
    message: `index message of ${uid} at ${revision}`,
  });
  return platform.indexOf(uid);
}

/** The revision an index message was made from: the data's, or its event's for a delete. */
function revisionOf(message: IndexMessage): number {
  if (typeof message.data !== "string") return message.data["revision"] as number;
  const event = platform.events.find(
    (e) => e.body.uid === message.data && e.body.action === "deleted",
  );
  return event?.body.revision ?? Number.MAX_SAFE_INTEGER;
}

function withoutComputed(reply: Entity): Record<string, unknown> {
  const { occurrences: _occurrences, ...fields } = reply;
  return fields;
}

describe("meetings and their settings", () => {
  it("index, access and events for a create, an update and a delete, in order", async () => {
    const input = meetingInput({
      organizers: ["ada"],
      visibility: "public",
      committees: [{ uid: randomUUID(), allowed_voting_statuses: [] }],
      zoom_config: { meeting_id: "123456789", passcode: "s3cret" },
    });
    const created = await ok<Entity>(harness.client, "lfx.meetings.create", input);
    const updated = await ok<Entity>(harness.client, "lfx.meetings.update", {
      uid: created.uid,
      revision: created.revision,
      title: "Renamed",
      visibility: "private",
    });
    const settings = await ok<Entity>(harness.client, "lfx.meeting-settings.get", {
      uid: created.uid,
    });
    await ok(harness.client, "lfx.meeting-settings.update", {
      uid: created.uid,
      revision: settings.revision,
      organizers: ["ada", "grace"],
    });
    const current = await ok<Entity>(harness.client, "lfx.meetings.get", { uid: created.uid });
    await ok(harness.client, "lfx.meetings.delete", {
      uid: created.uid,
      revision: current.revision,
    });

    await until(() => platform.indexOf(created.uid).some((m) => m.body.action === "deleted"), {
      message: "the meeting's deleted index message",
    });
    const meetingIndex = platform
      .indexOf(created.uid)
      .filter((m) => m.subject === "lfx.index.meeting");
    expect(meetingIndex.map((m) => m.body.action)).toEqual(["created", "updated", "deleted"]);
    const [createdMsg, updatedMsg, deletedMsg] = meetingIndex.map((m) => m.body);

    // The meeting as replied, with its computed occurrences (docs/CONTRACT.md §7), without secrets.
    const { zoom_config: zoom, ...createdFields } = created;
    expect(createdFields["occurrences"]).toHaveLength(1);
    expect(createdMsg?.data).toEqual({
      ...createdFields,
      zoom_config: { meeting_id: "123456789" },
    });
    expect(zoom).toEqual({ meeting_id: "123456789", passcode: "s3cret" });
    expect(JSON.stringify(meetingIndex)).not.toContain("s3cret");
    expect(createdMsg?.headers).toEqual({
      authorization: "Bearer lfx-meeting-service",
      "x-on-behalf-of": "local-dev",
    });
    expect(createdMsg?.tags).toEqual([
      created.uid,
      `meeting_uid:${created.uid}`,
      `project_uid:${input["project_uid"] as string}`,
      `committee_uid:${(input["committees"] as { uid: string }[])[0]?.uid ?? ""}`,
      `title:${input["title"] as string}`,
      "visibility:public",
    ]);
    expect(createdMsg?.indexing_config).toMatchObject({
      object_id: created.uid,
      public: true,
      access_check_object: `meeting:${created.uid}`,
      access_check_relation: "viewer",
      history_check_object: `meeting:${created.uid}`,
      history_check_relation: "auditor",
      sort_name: input["title"],
      parent_refs: [`project:${input["project_uid"] as string}`, expect.any(String) as string],
    });
    expect(updatedMsg?.indexing_config["public"]).toBe(false);
    expect((updatedMsg?.data as Record<string, unknown>)["title"]).toBe("Renamed");
    expect((updatedMsg?.data as Record<string, unknown>)["revision"]).toBe(updated.revision);
    expect(deletedMsg?.data).toBe(created.uid);

    // The settings' messages come from their own bucket's cursor: they may follow a little later.
    const settingsIndex = await until(
      () => {
        const found = platform
          .indexOf(created.uid)
          .filter((m) => m.subject === "lfx.index.meeting_settings");
        return found.length >= 3 ? found : undefined;
      },
      { message: "the settings' three index messages" },
    );
    expect(settingsIndex.map((m) => m.body.action)).toEqual(["created", "updated", "deleted"]);
    expect(settingsIndex[0]?.body.indexing_config).toMatchObject({
      public: false,
      access_check_object: `meeting:${created.uid}`,
      access_check_relation: "auditor",
    });

    // Access: the meeting's full state after each change, then its removal, in that order.
    const access = await until(
      async () => {
        const messages = fgaOf(await fgaMessages(harness.client), created.uid);
        return messages.some((m) => m.body.operation === "delete_access") ? messages : undefined;
      },
      { message: "delete_access of the meeting" },
    );
    expect(access.map((m) => m.subject).at(-1)).toBe("lfx.fga-sync.delete_access");
    expect(access.at(-1)?.body).toEqual({
      object_type: "meeting",
      operation: "delete_access",
      data: { uid: created.uid },
    });
    const updates = access.filter((m) => m.body.operation === "update_access");
    expect(updates.length).toBeGreaterThanOrEqual(2);
    expect(updates[0]?.body.data).toEqual({
      uid: created.uid,
      public: true,
      relations: { organizer: ["ada"] },
      references: {
        project: [input["project_uid"]],
        committee: [(input["committees"] as { uid: string }[])[0]?.uid],
      },
      exclude_relations: ["participant", "host"],
    });
    expect(updates.at(-1)?.body.data).toMatchObject({
      public: false,
      relations: { organizer: ["ada", "grace"] },
    });
  });

  it("passes the caller's Authorization on to the indexer", async () => {
    const created = await ok<Entity>(harness.client, "lfx.meetings.create", meetingInput(), {
      headers: { Authorization: "Bearer caller-token" },
    });
    const [message] = await indexedUpTo(created.uid, created.revision);
    expect(message?.body.headers["authorization"]).toBe("Bearer caller-token");
  });

  it("sends two quick updates of one meeting in order, the newest last", async () => {
    const created = await ok<Entity>(harness.client, "lfx.meetings.create", meetingInput());
    const first = await ok<Entity>(harness.client, "lfx.meetings.update", {
      uid: created.uid,
      revision: created.revision,
      title: "first",
    });
    const second = await ok<Entity>(harness.client, "lfx.meetings.update", {
      uid: created.uid,
      revision: first.revision,
      title: "second",
    });
    const messages = await indexedUpTo(created.uid, second.revision);
    expect(
      messages
        .filter((m) => m.subject === "lfx.index.meeting")
        .map((m) => [m.body.action, (m.body.data as Record<string, unknown>)["title"]]),
    ).toEqual([
      ["created", "Technical Steering Committee"],
      ["updated", "first"],
      ["updated", "second"],
    ]);
    const events = platform.eventsOf(created.uid).filter((e) => e.body.resource === "meetings");
    expect(events.map((e) => e.body.revision)).toEqual([
      created.revision,
      first.revision,
      second.revision,
    ]);
  });
});

describe("registrants and RSVPs", () => {
  it("index them for the meeting's auditors and keep membership in step with usernames", async () => {
    const meeting = await ok<Entity>(harness.client, "lfx.meetings.create", meetingInput());
    const email = uniqueEmail();
    const registrant = await ok<Entity>(harness.client, "lfx.registrants.create", {
      meeting_uid: meeting.uid,
      email,
      first_name: "Ada",
      username: "ada",
    });
    const renamed = await ok<Entity>(harness.client, "lfx.registrants.update", {
      uid: registrant.uid,
      revision: registrant.revision,
      username: "grace",
      host: true,
    });
    const rsvp = await ok<Entity>(harness.client, "lfx.rsvps.create", {
      meeting_uid: meeting.uid,
      registrant_uid: registrant.uid,
      response: "accepted",
      scope: "all",
    });
    await ok(harness.client, "lfx.rsvps.delete", { uid: rsvp.uid, revision: rsvp.revision });
    await ok(harness.client, "lfx.registrants.delete", {
      uid: registrant.uid,
      revision: renamed.revision,
    });

    await until(() => platform.indexOf(registrant.uid).some((m) => m.body.action === "deleted"), {
      message: "the registrant's deleted index message",
    });
    const index = platform.indexOf(registrant.uid).map((m) => m.body);
    expect(index.map((m) => m.action)).toEqual(["created", "updated", "deleted"]);
    expect(index[0]?.tags).toEqual([
      registrant.uid,
      `registrant_uid:${registrant.uid}`,
      `meeting_uid:${meeting.uid}`,
      `email:${email}`,
      "username:ada",
    ]);
    expect(index[1]?.tags).toContain("host:true");
    for (const message of index) {
      // Emails are personal data: the meeting's auditors may find them, never its viewers.
      expect(message.indexing_config).toMatchObject({
        public: false,
        access_check_object: `meeting:${meeting.uid}`,
        access_check_relation: "auditor",
        history_check_relation: "auditor",
      });
    }
    const rsvpIndex = platform.indexOf(rsvp.uid);
    expect(rsvpIndex.map((m) => [m.subject, m.body.action])).toEqual([
      ["lfx.index.meeting_rsvp", "created"],
      ["lfx.index.meeting_rsvp", "deleted"],
    ]);
    expect(rsvpIndex[0]?.body.tags).toContain(`registrant_uid:${registrant.uid}`);
    expect(rsvpIndex[0]?.body.indexing_config["access_check_relation"]).toBe("auditor");

    const membership = await until(
      async () => {
        const found = fgaOf(await fgaMessages(harness.client), meeting.uid).filter((m) =>
          m.body.operation.startsWith("member_"),
        );
        return found.length >= 4 ? found : undefined;
      },
      { message: "four membership messages" },
    );
    expect(membership.map((m) => [m.body.operation, m.body.data])).toEqual([
      [
        "member_put",
        {
          uid: meeting.uid,
          username: "ada",
          relations: ["participant"],
          mutually_exclusive_with: ["host"],
        },
      ],
      ["member_remove", { uid: meeting.uid, username: "ada", relations: [] }],
      [
        "member_put",
        {
          uid: meeting.uid,
          username: "grace",
          relations: ["host"],
          mutually_exclusive_with: ["participant"],
        },
      ],
      ["member_remove", { uid: meeting.uid, username: "grace", relations: [] }],
    ]);
  });
});

describe("past meetings, participants and artifacts", () => {
  it("index and access for each, artifacts found by the past meeting's artifact visibility", async () => {
    const meeting = await ok<Entity>(
      harness.client,
      "lfx.meetings.create",
      meetingInput({ artifact_visibility: "meeting_participants" }),
    );
    const pastMeeting = await ok<Entity>(harness.client, "lfx.past-meetings.start", {
      meeting_uid: meeting.uid,
      started_at: "2030-01-15T15:01:00Z",
    });
    const participant = await ok<Entity>(harness.client, "lfx.participants.create", {
      past_meeting_uid: pastMeeting.uid,
      email: uniqueEmail(),
      username: "linus",
      is_invited: true,
    });
    const participantUpdated = await ok<Entity>(harness.client, "lfx.participants.update", {
      uid: participant.uid,
      revision: participant.revision,
      is_attended: true,
    });
    const artifacts: Entity[] = [];
    for (const resource of ["recordings", "transcripts", "summaries"]) {
      const artifact = await ok<Entity>(harness.client, `lfx.${resource}.create`, {
        past_meeting_uid: pastMeeting.uid,
      });
      const changed = await ok<Entity>(harness.client, `lfx.${resource}.update`, {
        uid: artifact.uid,
        revision: artifact.revision,
        platform: "Zoom",
      });
      await ok(harness.client, `lfx.${resource}.delete`, {
        uid: artifact.uid,
        revision: changed.revision,
      });
      artifacts.push(artifact);
    }
    await ok(harness.client, "lfx.participants.delete", {
      uid: participant.uid,
      revision: participantUpdated.revision,
    });
    const last = await ok<Entity>(harness.client, "lfx.past-meetings.get", {
      uid: pastMeeting.uid,
    });
    await ok(harness.client, "lfx.past-meetings.delete", {
      uid: pastMeeting.uid,
      revision: last.revision,
    });

    await until(() => platform.indexOf(pastMeeting.uid).some((m) => m.body.action === "deleted"), {
      message: "the past meeting's deleted index message",
    });
    const pastIndex = platform.indexOf(pastMeeting.uid);
    expect(pastIndex[0]?.subject).toBe("lfx.index.past_meeting");
    expect(pastIndex[0]?.body.indexing_config).toMatchObject({
      public: false,
      access_check_object: `past_meeting:${pastMeeting.uid}`,
      access_check_relation: "viewer",
      history_check_relation: "auditor",
    });
    expect(pastIndex[0]?.body.tags).toContain(`meeting_uid:${meeting.uid}`);

    const participantIndex = await until(() => {
      const found = platform.indexOf(participant.uid);
      return found.some((m) => m.body.action === "deleted") ? found : undefined;
    });
    expect(participantIndex.map((m) => [m.subject, m.body.action])).toEqual([
      ["lfx.index.past_meeting_participant", "created"],
      ["lfx.index.past_meeting_participant", "updated"],
      ["lfx.index.past_meeting_participant", "deleted"],
    ]);
    expect(participantIndex[0]?.body.indexing_config["access_check_relation"]).toBe("auditor");

    const subjects = ["recording", "transcript", "summary"];
    for (const [i, artifact] of artifacts.entries()) {
      const messages = await until(() => {
        const found = platform.indexOf(artifact.uid);
        return found.some((m) => m.body.action === "deleted") ? found : undefined;
      });
      expect(messages.map((m) => [m.subject, m.body.action])).toEqual([
        [`lfx.index.past_meeting_${subjects[i] ?? ""}`, "created"],
        [`lfx.index.past_meeting_${subjects[i] ?? ""}`, "updated"],
        [`lfx.index.past_meeting_${subjects[i] ?? ""}`, "deleted"],
      ]);
      expect(messages[0]?.body.indexing_config).toMatchObject({
        public: false,
        access_check_object: `past_meeting:${pastMeeting.uid}`,
        access_check_relation: "viewer",
      });
    }

    const access = await until(
      async () => {
        const messages = fgaOf(await fgaMessages(harness.client), pastMeeting.uid);
        return messages.some((m) => m.body.operation === "delete_access") ? messages : undefined;
      },
      { message: "delete_access of the past meeting" },
    );
    expect(access[0]?.body).toEqual({
      object_type: "past_meeting",
      operation: "update_access",
      data: {
        uid: pastMeeting.uid,
        public: false,
        references: {
          project: [meeting["project_uid"]],
          committee: [],
          meeting: [`meeting:${meeting.uid}`],
        },
        exclude_relations: ["host", "invitee", "attendee"],
      },
    });
    const membership = access.filter((m) => m.body.operation.startsWith("member_"));
    expect(membership.map((m) => [m.body.operation, m.body.data["relations"]])).toEqual([
      ["member_put", ["invitee"]],
      ["member_put", ["invitee", "attendee"]],
      ["member_remove", []],
    ]);
    expect(access.at(-1)?.body.operation).toBe("delete_access");
  });
});

describe("steady state with two instances", () => {
  it("sends each change's index message and event once", async () => {
    const created = await ok<Entity>(harness.client, "lfx.meetings.create", meetingInput());
    await indexedUpTo(created.uid, created.revision);
    // Everything sent so far by either instance: no (subject, uid, revision) twice.
    const seen = new Map<string, number>();
    for (const { subject, body } of platform.events) {
      const key = `${subject} ${body.uid} ${body.revision}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    expect([...seen.entries()].filter(([, count]) => count > 1)).toEqual([]);
    const indexKeys = platform.index.map(
      (m) => `${m.subject} ${JSON.stringify(m.body.data)} ${m.body.action}`,
    );
    expect(new Set(indexKeys).size).toBe(indexKeys.length);
  });
});

describe("reindex", () => {
  it("sends the current state of every entity of the named resources again", async () => {
    const meeting = await ok<Entity>(
      harness.client,
      "lfx.meetings.create",
      meetingInput({ organizers: ["reindexed"] }),
    );
    const registrant = await ok<Entity>(harness.client, "lfx.registrants.create", {
      meeting_uid: meeting.uid,
      email: uniqueEmail(),
      username: "reindexed-member",
    });
    const gone = await ok<Entity>(harness.client, "lfx.meetings.create", meetingInput());
    await ok(harness.client, "lfx.meetings.delete", { uid: gone.uid, revision: gone.revision });
    await indexedUpTo(registrant.uid, registrant.revision);
    const current = await ok<Entity>(harness.client, "lfx.meetings.get", { uid: meeting.uid });
    const before = {
      meeting: platform.indexOf(meeting.uid).length,
      registrant: platform.indexOf(registrant.uid).length,
      gone: platform.indexOf(gone.uid).length,
    };
    const accessBefore = fgaOf(await fgaMessages(harness.client), meeting.uid).length;

    await expect(() =>
      reindex({ ...reindexDeps(), resources: ["meetings", "nonsense"] }),
    ).rejects.toThrow(/unknown resource nonsense/);
    const sent = await reindex({ ...reindexDeps(), resources: ["meetings", "registrants"] });
    expect(sent).toBeGreaterThanOrEqual(2);

    const again = await until(() => {
      const found = platform.indexOf(meeting.uid).slice(before.meeting);
      return found.some((m) => m.subject === "lfx.index.meeting") ? found : undefined;
    });
    expect(again.map((m) => [m.subject, m.body.action])).toEqual([
      ["lfx.index.meeting", "updated"],
    ]);
    // Sent by the tool, which computes no occurrences: the meeting as stored.
    expect(again[0]?.body.data).toEqual(withoutComputed(current));
    await until(() => platform.indexOf(registrant.uid).length > before.registrant);
    // A deleted entity stays deleted; settings were not asked for.
    expect(platform.indexOf(gone.uid)).toHaveLength(before.gone);
    const access = await until(async () => {
      const found = fgaOf(await fgaMessages(harness.client), meeting.uid).slice(accessBefore);
      return found.length >= 2 ? found : undefined;
    });
    expect(access.map((m) => m.body.operation).sort()).toEqual(["member_put", "update_access"]);
  });
});

function reindexDeps() {
  return {
    nc: harness.client,
    js: jetstream(harness.client),
    serviceToken: "lfx-meeting-service",
    log: createLogger("silent"),
  };
}

describe("lfx.meetings-api.get_title", () => {
  it("answers a raw uid with the raw title, and anything else with nothing", async () => {
    const created = await ok<Entity>(
      harness.client,
      "lfx.meetings.create",
      meetingInput({ title: "Board ✓" }),
    );
    const title = await harness.client.request("lfx.meetings-api.get_title", created.uid);
    expect(title.string()).toBe("Board ✓");
    for (const unknown of ["nope", "", "a.b", "*", "index.x"]) {
      const reply = await request(harness.client, "lfx.meetings-api.get_title", unknown);
      expect(reply.status).toBe(200);
      expect(reply.body).toBeUndefined();
    }
  });
});
