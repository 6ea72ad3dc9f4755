// docs/CONTRACT.md §7: after every committed change, `lfx.events.<resource>.<action>` with
// `{resource, action, uid, revision, data, at}`; nothing for a change that was refused.
import { meetingInput } from "../support/builders.js";
import { useServiceHarness } from "../support/harness.js";
import { ok, request } from "../support/request.js";
import { until } from "../support/until.js";

interface ChangeEvent {
  resource: string;
  action: string;
  uid: string;
  revision: number;
  data: Record<string, unknown> | null;
  at: string;
}
interface Received {
  subject: string;
  event: ChangeEvent;
}
interface MeetingReply {
  uid: string;
  revision: number;
  title: string;
  [field: string]: unknown;
}
interface SettingsReply {
  uid: string;
  revision: number;
  organizers: string[];
  created_at: string;
  updated_at: string;
}

const RFC3339_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

const harness = useServiceHarness(1);
const received: Received[] = [];

// Runs after the harness has connected; closing the client ends the subscription.
beforeAll(async () => {
  harness.client.subscribe("lfx.events.>", {
    callback: (err, msg) => {
      if (err === null) received.push({ subject: msg.subject, event: msg.json<ChangeEvent>() });
    },
  });
  // The server knows the subscription before any test publishes.
  await harness.client.flush();
});

/** Events about one uid, in the order they arrived. */
function eventsOf(uid: string): Received[] {
  return received.filter((r) => r.event.uid === uid);
}

/** Waits until `subject` has been received for `uid`, and returns every event of it. */
async function waitForEvent(uid: string, subject: string): Promise<Received> {
  return until(() => eventsOf(uid).find((r) => r.subject === subject), {
    message: `${subject} for ${uid}`,
  });
}

/** The entity fields of a reply: without `revision` (the record's, not the value's). */
function entityOf(reply: Record<string, unknown>): Record<string, unknown> {
  const { revision: _revision, occurrences: _occurrences, ...fields } = reply;
  return fields;
}

function expectTimestampWithin(at: string, from: number, to: number): void {
  expect(at).toMatch(RFC3339_UTC);
  expect(Date.parse(at)).toBeGreaterThanOrEqual(from - 1000);
  expect(Date.parse(at)).toBeLessThanOrEqual(to + 1000);
}

describe("meeting events", () => {
  it("announces a create, an update and a delete with the reply's revision", async () => {
    const started = Date.now();
    const created = await ok<MeetingReply>(harness.client, "lfx.meetings.create", meetingInput());
    const updated = await ok<MeetingReply>(harness.client, "lfx.meetings.update", {
      uid: created.uid,
      revision: created.revision,
      title: "Renamed",
    });
    await ok(harness.client, "lfx.meetings.delete", {
      uid: created.uid,
      revision: updated.revision,
    });

    const deleted = await waitForEvent(created.uid, "lfx.events.meetings.deleted");
    const meetingEvents = eventsOf(created.uid).filter((r) => r.event.resource === "meetings");
    expect(meetingEvents.map((r) => r.subject)).toEqual([
      "lfx.events.meetings.created",
      "lfx.events.meetings.updated",
      "lfx.events.meetings.deleted",
    ]);
    const [createdEvent, updatedEvent] = meetingEvents.map((r) => r.event);

    expect(createdEvent).toEqual({
      resource: "meetings",
      action: "created",
      uid: created.uid,
      revision: created.revision,
      data: expect.any(Object) as object,
      at: expect.any(String) as string,
    });
    expect(entityOf(createdEvent?.data ?? {})).toEqual(entityOf(created));
    // The meeting as replied: with its computed occurrences and its revision.
    expect(createdEvent?.data?.["occurrences"]).toEqual(created["occurrences"]);
    expect(createdEvent?.data?.["revision"]).toBe(created.revision);

    expect(updatedEvent).toEqual({
      resource: "meetings",
      action: "updated",
      uid: created.uid,
      revision: updated.revision,
      data: expect.any(Object) as object,
      at: expect.any(String) as string,
    });
    expect(entityOf(updatedEvent?.data ?? {})).toEqual(entityOf(updated));
    expect(updatedEvent?.data?.["title"]).toBe("Renamed");

    // A delete carries no entity, and the revision of the delete itself.
    expect(deleted.event).toEqual({
      resource: "meetings",
      action: "deleted",
      uid: created.uid,
      revision: expect.any(Number) as number,
      data: null,
      at: expect.any(String) as string,
    });
    expect(deleted.event.revision).toBeGreaterThan(updated.revision);

    for (const { event } of meetingEvents) expectTimestampWithin(event.at, started, Date.now());
  });

  it("announces nothing for a refused change", async () => {
    const created = await ok<MeetingReply>(harness.client, "lfx.meetings.create", meetingInput());
    const first = await ok<MeetingReply>(harness.client, "lfx.meetings.update", {
      uid: created.uid,
      revision: created.revision,
      title: "one",
    });
    const stale = { uid: created.uid, revision: created.revision };
    expect(
      (await request(harness.client, "lfx.meetings.update", { ...stale, title: "two" })).status,
    ).toBe(409);
    expect((await request(harness.client, "lfx.meetings.delete", stale)).status).toBe(409);
    expect(
      (await request(harness.client, "lfx.meetings.update", { ...stale, title: null })).status,
    ).toBe(400);
    // Events of one publisher arrive in order: once the delete's is here, no other can follow.
    await ok(harness.client, "lfx.meetings.delete", { uid: created.uid, revision: first.revision });
    await waitForEvent(created.uid, "lfx.events.meetings.deleted");
    expect(
      eventsOf(created.uid)
        .filter((r) => r.event.resource === "meetings")
        .map((r) => [r.event.action, r.event.revision]),
    ).toEqual([
      ["created", created.revision],
      ["updated", first.revision],
      ["deleted", expect.any(Number)],
    ]);
  });
});

describe("meeting-settings events", () => {
  it("announces settings created with the meeting, updated, and deleted with it", async () => {
    const created = await ok<MeetingReply>(
      harness.client,
      "lfx.meetings.create",
      meetingInput({ organizers: ["Ada"] }),
    );
    const settings = await ok<SettingsReply>(harness.client, "lfx.meeting-settings.get", {
      uid: created.uid,
    });
    const updatedSettings = await ok<SettingsReply>(harness.client, "lfx.meeting-settings.update", {
      uid: created.uid,
      revision: settings.revision,
      organizers: ["Ada", "Grace"],
    });
    const meeting = await ok<MeetingReply>(harness.client, "lfx.meetings.get", {
      uid: created.uid,
    });
    await ok(harness.client, "lfx.meetings.delete", {
      uid: created.uid,
      revision: meeting.revision,
    });
    // The settings' events come from their own bucket's cursor: in order among themselves, not
    // with the meeting's (docs/CONTRACT.md §9 orders the changes of one entity).
    await waitForEvent(created.uid, "lfx.events.meeting-settings.deleted");

    const settingsEvents = eventsOf(created.uid).filter(
      (r) => r.event.resource === "meeting-settings",
    );
    expect(settingsEvents.map((r) => r.subject)).toEqual([
      "lfx.events.meeting-settings.created",
      "lfx.events.meeting-settings.updated",
      "lfx.events.meeting-settings.deleted",
    ]);
    const [createdEvent, updatedEvent, deletedEvent] = settingsEvents.map((r) => r.event);

    expect(createdEvent).toEqual({
      resource: "meeting-settings",
      action: "created",
      uid: created.uid,
      revision: settings.revision,
      data: expect.any(Object) as object,
      at: expect.any(String) as string,
    });
    expect(entityOf(createdEvent?.data ?? {})).toEqual(entityOf({ ...settings }));

    expect(updatedEvent).toEqual({
      resource: "meeting-settings",
      action: "updated",
      uid: created.uid,
      revision: updatedSettings.revision,
      data: expect.any(Object) as object,
      at: expect.any(String) as string,
    });
    expect(entityOf(updatedEvent?.data ?? {})).toEqual(entityOf({ ...updatedSettings }));
    expect(updatedEvent?.data?.["organizers"]).toEqual(["Ada", "Grace"]);

    expect(deletedEvent).toEqual({
      resource: "meeting-settings",
      action: "deleted",
      uid: created.uid,
      revision: expect.any(Number) as number,
      data: null,
      at: expect.any(String) as string,
    });
    expect(deletedEvent?.revision).toBeGreaterThan(updatedSettings.revision);
  });
});
