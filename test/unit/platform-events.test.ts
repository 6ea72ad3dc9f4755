// The pure parts of following the platform: event bodies as the committee and project services
// send them (docs/PLATFORM.md §5), who lost an organizing role, which voting statuses let a member
// in.
import { lostOrganizers } from "../../src/handlers/project-settings.js";
import { votingStatusAllowed } from "../../src/platform/lookups.js";
import { parseMemberEvent, parseProjectSettingsEvent } from "../../src/platform/subscriptions.js";

const member = (fields: Record<string, unknown> = {}) => ({
  uid: "m1",
  email: "Ada@Example.org",
  voting: { status: "Voting Rep" },
  committee_uid: "c1",
  ...fields,
});

describe("parseMemberEvent", () => {
  const envelope = (data: unknown) => ({
    event_type: "x",
    subject: "s",
    timestamp: "t",
    version: "1",
    data,
  });

  it("reads created and deleted as the member of data", () => {
    expect(
      parseMemberEvent("lfx.committee-api.committee_member.created", envelope(member())),
    ).toEqual({ kind: "created", committeeUid: "c1", member: member() });
    expect(
      parseMemberEvent("lfx.committee-api.committee_member.deleted", envelope(member())),
    ).toMatchObject({ kind: "deleted", committeeUid: "c1" });
  });

  it("reads updated as old_member and member", () => {
    const old = member({ email: "old@example.org" });
    expect(
      parseMemberEvent(
        "lfx.committee-api.committee_member.updated",
        envelope({ member_uid: "m1", old_member: old, member: member() }),
      ),
    ).toEqual({ kind: "updated", committeeUid: "c1", oldMember: old, member: member() });
  });

  it.each([
    ["no data", { event_type: "x" }],
    ["a member without email", envelope(member({ email: undefined }))],
    ["a member without committee", envelope(member({ committee_uid: undefined }))],
    ["an array", envelope([member()])],
  ])("refuses %s", (_what, body) => {
    expect(parseMemberEvent("lfx.committee-api.committee_member.created", body)).toHaveProperty(
      "invalid",
    );
  });
});

describe("parseProjectSettingsEvent", () => {
  it("needs a project_uid", () => {
    expect(parseProjectSettingsEvent({ old_settings: {} })).toHaveProperty("invalid");
    expect(parseProjectSettingsEvent({ project_uid: "p" })).toEqual({ project_uid: "p" });
  });
});

describe("lostOrganizers", () => {
  const user = (username: string) => ({ username });
  it("is who held writer or coordinator before and holds neither now", () => {
    expect(
      lostOrganizers({
        project_uid: "p",
        old_settings: {
          writers: [user("alice"), user("bob")],
          meeting_coordinators: [user("carol")],
        },
        new_settings: { writers: [user("carol")], meeting_coordinators: [user("bob")] },
      }),
    ).toEqual(new Set(["alice"]));
  });

  it("is nobody when the settings are missing on both sides", () => {
    expect(lostOrganizers({ project_uid: "p" })).toEqual(new Set());
  });
});

describe("votingStatusAllowed", () => {
  it("lets every member in when the list is empty or absent", () => {
    expect(votingStatusAllowed(member({ voting: undefined }), [])).toBe(true);
    expect(votingStatusAllowed(member(), undefined)).toBe(true);
  });

  it("lets in only the listed statuses, exactly", () => {
    expect(votingStatusAllowed(member(), ["Voting Rep"])).toBe(true);
    expect(votingStatusAllowed(member(), ["voting rep"])).toBe(false);
    expect(votingStatusAllowed(member({ voting: undefined }), ["Voting Rep"])).toBe(false);
  });
});
