import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";
import { execSync } from "node:child_process";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { encodeKey } from "../../src/store/keys.js";
import { checkConsistency, type Finding } from "../../src/tools/consistency.js";
import { meetingInput, uniqueEmail } from "../support/builders.js";
import { startNatsServer, type NatsServerHandle } from "../support/nats-server.js";
import { ok } from "../support/request.js";
import { connectClient, startInstance, type TestInstance } from "../support/service.js";

interface Entity {
  uid: string;
  revision: number;
}

let server: NatsServerHandle;
let instance: TestInstance;
let client: NatsConnection;
let kv: { meetings: KV; meetingSettings: KV; registrants: KV; rsvps: KV };

beforeAll(async () => {
  if (!existsSync("dist/tools/check-consistency.js"))
    execSync("npm run build", { stdio: "ignore" });
  server = await startNatsServer();
  instance = await startInstance(server.url);
  client = await connectClient(server.url);
  const kvm = new Kvm(client);
  kv = {
    meetings: await kvm.open("meetings"),
    meetingSettings: await kvm.open("meeting-settings"),
    registrants: await kvm.open("meeting-registrants"),
    rsvps: await kvm.open("meeting-rsvps"),
  };
}, 120_000);

afterAll(async () => {
  await client?.close();
  await instance?.stop();
  await server?.stop();
});

async function check(repair: boolean): Promise<Finding[]> {
  const findings: Finding[] = [];
  await checkConsistency(kv, {
    repair,
    now: () => new Date(),
    graceMs: 0,
    onFinding: (f) => findings.push(f),
  });
  return findings;
}

const run = promisify(execFile);

async function cli(...args: string[]) {
  try {
    const { stdout } = await run("node", ["dist/tools/check-consistency.js", ...args], {
      env: { ...process.env, NATS_URL: server.url },
    });
    return { code: 0, stdout };
  } catch (err) {
    const failure = err as { code: number; stdout: string };
    return { code: failure.code, stdout: failure.stdout };
  }
}

it("finds nothing in what the service wrote", async () => {
  const meeting = await ok<Entity>(client, "lfx.meetings.create", meetingInput());
  const registrant = await ok<Entity>(client, "lfx.registrants.create", {
    meeting_uid: meeting.uid,
    email: uniqueEmail(),
  });
  await ok(client, "lfx.rsvps.create", {
    meeting_uid: meeting.uid,
    registrant_uid: registrant.uid,
    response: "accepted",
    scope: "all",
  });
  expect(await check(false)).toEqual([]);
  expect((await cli("--grace-seconds", "0")).code).toBe(0);
});

it("reports each kind of damage, repairs it, and is clean afterwards", async () => {
  const meeting = await ok<Entity & { project_uid: string }>(
    client,
    "lfx.meetings.create",
    meetingInput(),
  );
  const email = uniqueEmail();
  const registrant = await ok<Entity>(client, "lfx.registrants.create", {
    meeting_uid: meeting.uid,
    email,
  });
  const lonely = await ok<Entity>(client, "lfx.meetings.create", meetingInput());

  // A crash after the registrant but before its email index key and the count.
  await kv.registrants.delete(encodeKey(["index", "email", email, registrant.uid]));
  const current = (await kv.meetings.get(meeting.uid))!;
  await kv.meetings.update(
    meeting.uid,
    JSON.stringify({ ...current.json<object>(), registrant_count: 5 }),
    current.revision,
  );
  // Leftovers of crashed creates and deletes.
  await kv.registrants.put(encodeKey(["index", "meeting", meeting.uid, "ghost"]), "ghost");
  await kv.registrants.put(
    encodeKey(["unique", "meeting-email", meeting.uid, "ghost@example.org"]),
    JSON.stringify({ uid: "ghost", claimed_at: new Date(0).toISOString() }),
  );
  await kv.meetings.put(encodeKey(["index", "project", meeting.project_uid, "ghost"]), "ghost");
  await kv.meetingSettings.put(
    "ghostMeeting",
    JSON.stringify({ uid: "ghostMeeting", organizers: [] }),
  );
  await kv.meetingSettings.delete(lonely.uid);

  const findings = await check(false);
  expect(findings.map((f) => f.kind).sort()).toEqual(
    [
      "missing-index-key",
      "missing-settings",
      "orphan-claim",
      "orphan-index-key",
      "orphan-index-key",
      "orphan-settings",
      "registrant-count",
    ].sort(),
  );
  expect(findings.find((f) => f.kind === "registrant-count")?.subject).toBe(meeting.uid);

  const reported = await cli("--grace-seconds", "0");
  expect(reported.code).toBe(1);
  expect(reported.stdout.trim().split("\n")).toHaveLength(findings.length);

  const repaired = await cli("--repair", "--grace-seconds", "0");
  expect(repaired.code).toBe(0);
  expect(await check(false)).toEqual([]);
  const fixed = await ok<{ registrant_count: number }>(client, "lfx.meetings.get", {
    uid: meeting.uid,
  });
  expect(fixed.registrant_count).toBe(1);
});
