// The platform messages of one change (docs/PLATFORM.md §1, §2; docs/CONTRACT.md §7), as pure
// functions.
import type { EntityChange } from "../../src/outbox/change.js";
import {
  eventMessage,
  indexMessage,
  memberMessages,
  meetingAccess,
} from "../../src/outbox/platform-messages.js";

const AT = new Date("2030-01-01T00:00:00.000Z");
const CTX = { serviceAuthorization: "Bearer service" };

function change(overrides: Partial<EntityChange>): EntityChange {
  return {
    bucket: "meeting-registrants",
    uid: "r1",
    revision: 7,
    action: "created",
    value: { uid: "r1", meeting_uid: "m1", email: "ada@example.org" },
    origin: {},
    at: AT,
    ...overrides,
  };
}

describe("index messages", () => {
  it("carry the service's token when the change was made on nobody's behalf", () => {
    const message = indexMessage(change({}), CTX);
    expect(message.subject).toBe("lfx.index.meeting_registrant");
    expect(message.body).toMatchObject({ headers: { authorization: "Bearer service" } });
  });

  it("carry the caller's token and principal when the request had them", () => {
    const origin = { authorization: "Bearer caller", principal: "auth0|ada" };
    expect(indexMessage(change({ origin }), CTX).body).toMatchObject({
      headers: { authorization: "Bearer caller", "x-on-behalf-of": "auth0|ada" },
    });
  });

  it("name only the uid of a deleted entity, and keep its access checks", () => {
    const body = indexMessage(change({ action: "deleted" }), CTX).body as Record<string, unknown>;
    expect(body["data"]).toBe("r1");
    expect(body["indexing_config"]).toMatchObject({
      object_id: "r1",
      access_check_object: "meeting:m1",
      access_check_relation: "auditor",
    });
  });

  it("never hold secrets, at any depth", () => {
    const meeting = change({
      bucket: "meetings",
      uid: "m1",
      value: { uid: "m1", title: "T", zoom_config: { meeting_id: "1", passcode: "p" } },
    });
    const text = JSON.stringify(indexMessage(meeting, CTX));
    expect(text).not.toContain("passcode");
    expect(text).toContain('"meeting_id":"1"');
  });

  it.each([
    ["public", true, "viewer"],
    ["meeting_participants", false, "viewer"],
    ["meeting_hosts", false, "host"],
    [undefined, false, "host"],
  ] as const)("find an artifact of a past meeting whose visibility is %s", (v, pub, relation) => {
    const recording = change({
      bucket: "past-meeting-recordings",
      uid: "a1",
      value: { uid: "a1", past_meeting_uid: "p1" },
    });
    const body = indexMessage(recording, {
      ...CTX,
      ...(v === undefined ? {} : { artifactVisibility: v }),
    }).body as Record<string, unknown>;
    expect(body["indexing_config"]).toMatchObject({
      public: pub,
      access_check_object: "past_meeting:p1",
      access_check_relation: relation,
      history_check_relation: "auditor",
    });
  });
});

describe("events", () => {
  it("carry the entity with its revision, and null for a delete (docs/CONTRACT.md §7)", () => {
    expect(eventMessage(change({})).body).toEqual({
      resource: "registrants",
      action: "created",
      uid: "r1",
      revision: 7,
      data: { uid: "r1", meeting_uid: "m1", email: "ada@example.org", revision: 7 },
      at: "2030-01-01T00:00:00.000Z",
    });
    expect(eventMessage(change({ action: "deleted" })).body).toMatchObject({ data: null });
  });
});

describe("access messages", () => {
  it("sync a meeting's organizers, project and committees in full", () => {
    const meeting = { project_uid: "P", visibility: "public", committees: [{ uid: "C" }] };
    expect(meetingAccess("m1", meeting, ["ada"]).body).toEqual({
      object_type: "meeting",
      operation: "update_access",
      data: {
        uid: "m1",
        public: true,
        relations: { organizer: ["ada"] },
        references: { project: ["P"], committee: ["C"] },
        exclude_relations: ["participant", "host"],
      },
    });
  });

  it("remove an old username before putting the new one", () => {
    const renamed = change({
      action: "updated",
      value: { uid: "r1", meeting_uid: "m1", username: "new", host: true },
      previous: { uid: "r1", meeting_uid: "m1", username: "old" },
    });
    expect(memberMessages(renamed).map((m) => [m.subject, m.body])).toEqual([
      [
        "lfx.fga-sync.member_remove",
        {
          object_type: "meeting",
          operation: "member_remove",
          data: { uid: "m1", username: "old", relations: [] },
        },
      ],
      [
        "lfx.fga-sync.member_put",
        {
          object_type: "meeting",
          operation: "member_put",
          data: {
            uid: "m1",
            username: "new",
            relations: ["host"],
            mutually_exclusive_with: ["participant"],
          },
        },
      ],
    ]);
  });

  it("remove a cleared username, and send nothing for a registrant without one", () => {
    const cleared = change({
      action: "updated",
      value: { uid: "r1", meeting_uid: "m1" },
      previous: { uid: "r1", meeting_uid: "m1", username: "old" },
    });
    expect(memberMessages(cleared).map((m) => m.subject)).toEqual(["lfx.fga-sync.member_remove"]);
    expect(memberMessages(change({}))).toEqual([]);
  });

  it("give a participant the relations it has on its past meeting", () => {
    const participant = change({
      bucket: "past-meeting-participants",
      value: {
        uid: "x",
        past_meeting_uid: "p1",
        username: "u",
        is_invited: true,
        is_attended: true,
      },
    });
    expect(memberMessages(participant)[0]?.body).toEqual({
      object_type: "past_meeting",
      operation: "member_put",
      data: {
        uid: "p1",
        username: "u",
        relations: ["invitee", "attendee"],
        mutually_exclusive_with: ["host", "invitee", "attendee"],
      },
    });
  });
});
