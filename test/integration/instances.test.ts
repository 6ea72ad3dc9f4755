// docs/CONTRACT.md §1 "many instances": instances on one NATS system share the queue group, and a
// write through one is seen by a read through another at once.
import type { NatsConnection } from "@nats-io/transport-node";
import { randomUUID } from "node:crypto";
import { meetingInput } from "../support/builders.js";
import { discover, endpointStats, type InfoResponse } from "../support/micro.js";
import { startNatsServer, type NatsServerHandle } from "../support/nats-server.js";
import { ok, request } from "../support/request.js";
import { connectClient, startInstance, type TestInstance } from "../support/service.js";

interface MeetingReply {
  uid: string;
  revision: number;
  project_uid: string;
  title: string;
}
interface Page {
  items: MeetingReply[];
  next_cursor: string | null;
}

const LEASE_MS = 600;

let server: NatsServerHandle;
let instances: [TestInstance, TestInstance];
let client: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer();
  // Short leases, so that the lease test below sees a few of them in a few seconds.
  const env = { OUTBOX_LEASE_MS: String(LEASE_MS) };
  instances = [await startInstance(server.url, { env }), await startInstance(server.url, { env })];
  client = await connectClient(server.url);
});

afterAll(async () => {
  await client?.close();
  for (const instance of instances ?? []) await instance.stop();
  await server?.stop();
});

function idOf(instance: TestInstance): string {
  return instance.running.service.info().id;
}

/** Requests an instance has completed on `subject`, from its own log. */
function servedBy(instance: TestInstance, subject: string): number {
  return instance.logLines.filter(
    (line) => line["msg"] === "request completed" && line["subject"] === subject,
  ).length;
}

/** Requests to meetings-create and meetings-get counted in an instance's `$SRV.STATS`. */
async function createsAndGets(instance: TestInstance): Promise<number> {
  const id = idOf(instance);
  const [creates, gets] = await Promise.all([
    endpointStats(client, id, "meetings-create"),
    endpointStats(client, id, "meetings-get"),
  ]);
  return creates.num_requests + gets.num_requests;
}

it("registers both instances under one name, in one queue group", async () => {
  const ids = instances.map(idOf);
  expect(new Set(ids).size).toBe(2);
  for (const id of ids) {
    const info = await discover<InfoResponse>(client, "INFO", id);
    expect(info.id).toBe(id);
    const queues = new Set(info.endpoints.map((e) => e.queue_group));
    expect([...queues]).toEqual(["lfx-meeting-service"]);
  }
});

it("serves 40 mixed requests, each once, spread over both instances", async () => {
  const before = await Promise.all(instances.map(createsAndGets));
  const project = randomUUID();
  const created = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      request<MeetingReply>(
        client,
        "lfx.meetings.create",
        meetingInput({ project_uid: project, title: `m${i}` }),
      ),
    ),
  );
  expect(created.map((r) => r.status)).toEqual(Array<number>(20).fill(200));
  const got = await Promise.all(
    created.map((r) => request<MeetingReply>(client, "lfx.meetings.get", { uid: r.body.uid })),
  );
  expect(got.map((r) => r.status)).toEqual(Array<number>(20).fill(200));
  expect(got.map((r) => r.body)).toEqual(created.map((r) => r.body));

  const after = await Promise.all(instances.map(createsAndGets));
  const served = after.map((count, i) => count - (before[i] ?? 0));
  // Each request was served by exactly one instance.
  expect((served[0] ?? 0) + (served[1] ?? 0)).toBe(40);
  // A queue group picks at random: both idle has a chance of 2^-39.
  expect(served[0]).toBeGreaterThan(0);
  expect(served[1]).toBeGreaterThan(0);
});

it("lists, on either instance, a meeting created through the other at once", async () => {
  let crossed = 0;
  for (let i = 0; i < 20; i += 1) {
    const project = randomUUID();
    const createsBefore = instances.map((s) => servedBy(s, "lfx.meetings.create"));
    const listsBefore = instances.map((s) => servedBy(s, "lfx.meetings.list"));

    const meeting = await ok<MeetingReply>(
      client,
      "lfx.meetings.create",
      meetingInput({ project_uid: project }),
    );
    const page = await ok<Page>(client, "lfx.meetings.list", { project_uid: project });
    expect(page.items.map((m) => [m.uid, m.revision])).toEqual([[meeting.uid, meeting.revision]]);

    const creator = instances.findIndex(
      (s, n) => servedBy(s, "lfx.meetings.create") > (createsBefore[n] ?? 0),
    );
    const lister = instances.findIndex(
      (s, n) => servedBy(s, "lfx.meetings.list") > (listsBefore[n] ?? 0),
    );
    expect(creator).toBeGreaterThanOrEqual(0);
    expect(lister).toBeGreaterThanOrEqual(0);
    if (creator !== lister) crossed += 1;
  }
  // Half the rounds cross instances on average; none crossing has a chance of 2^-20.
  expect(crossed).toBeGreaterThan(0);
});

it("reads, on either instance, an update made through the other at once", async () => {
  const meeting = await ok<MeetingReply>(client, "lfx.meetings.create", meetingInput());
  let current = meeting;
  for (let i = 0; i < 20; i += 1) {
    current = await ok<MeetingReply>(client, "lfx.meetings.update", {
      uid: meeting.uid,
      revision: current.revision,
      title: `revision ${i}`,
    });
    const got = await ok<MeetingReply>(client, "lfx.meetings.get", { uid: meeting.uid });
    expect(got).toEqual(current);
    const page = await ok<Page>(client, "lfx.meetings.list", { project_uid: meeting.project_uid });
    expect(page.items).toEqual([current]);
  }
});

it("drops, on either instance, a meeting deleted through the other at once", async () => {
  for (let i = 0; i < 10; i += 1) {
    const meeting = await ok<MeetingReply>(client, "lfx.meetings.create", meetingInput());
    await ok(client, "lfx.meetings.delete", { uid: meeting.uid, revision: meeting.revision });
    const page = await ok<Page>(client, "lfx.meetings.list", { project_uid: meeting.project_uid });
    expect(page.items).toEqual([]);
    expect((await request(client, "lfx.meetings.get", { uid: meeting.uid })).status).toBe(404);
  }
});

it("reads another instance's feed lease about once per lease, not on every renewal", async () => {
  // The leases' reads, as the server receives them: a holder renews its lease at its revision
  // every third of a lease (a write), and the instance that does not hold it reads it.
  const leaseReads: number[] = [];
  const watch = client.subscribe("$JS.API.STREAM.MSG.GET.KV_meeting-service-outbox", {
    callback: (_err, msg) => {
      if (msg.string().includes(".lease.")) leaseReads.push(Date.now());
    },
  });
  const leases = 5;
  await new Promise((resolve) => setTimeout(resolve, leases * LEASE_MS));
  watch.unsubscribe();
  // Two feeds (platform-index, fga-sync), each held by one instance and read by the other:
  // a read per third of a lease would be 2 x 3 x 5 = 30; about one per lease is 2 x 5, and each
  // read may fall up to a tick (a third of a lease) before the lapse it waits for.
  expect(leaseReads.length).toBeGreaterThan(0);
  expect(leaseReads.length).toBeLessThanOrEqual(2 * 2 * leases);
});
