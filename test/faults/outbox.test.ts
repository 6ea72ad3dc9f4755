// Faults for the outbox (docs/CONTRACT.md §9: delivered at least once, in order per entity):
// - the platform's `fga-sync-events` stream created after the changes: index messages and events
//   go out at once, the access messages as soon as the stream exists, without a restart;
// - the instance sending the platform messages SIGKILLed under a load of creates: the other takes
//   the feeds over, and every create acknowledged to its caller (before or after the kill) has its
//   index message, its event and its access message; a repeat of one is allowed, a loss is not.
import type { NatsConnection } from "@nats-io/transport-node";
import { randomUUID } from "node:crypto";
import { meetingInput } from "../support/builders.js";
import { isSuccess, Load, tally } from "../support/load.js";
import { startNatsServer, type NatsServerHandle } from "../support/nats-server.js";
import {
  createFgaStream,
  fgaMessages,
  PlatformRecorder,
  type FgaMessage,
  type Received,
} from "../support/platform-messages.js";
import { ok, request } from "../support/request.js";
import {
  ensureBuilt,
  killAllServiceProcesses,
  runTool,
  startServiceProcess,
  type ServiceProcess,
} from "../support/service-process.js";
import { connectClient } from "../support/service.js";
import { until } from "../support/until.js";
import { report } from "../support/fault-checks.js";

let server: NatsServerHandle;
let client: NatsConnection;
let platform: PlatformRecorder;

beforeAll(async () => {
  ensureBuilt();
  server = await startNatsServer();
  client = await connectClient(server.url);
  platform = new PlatformRecorder(client);
  await platform.ready();
}, 180_000);

afterAll(async () => {
  killAllServiceProcesses();
  await client?.close();
  await server?.stop();
});

const LEASE_MS = 1000;
const start = () =>
  startServiceProcess({
    NATS_URL: server.url,
    KV_TIMEOUT_MS: "1000",
    OUTBOX_LEASE_MS: `${LEASE_MS}`,
  });

function updateAccessOf(messages: Received<FgaMessage>[], uid: string) {
  return messages.filter((m) => m.body.operation === "update_access" && m.body.data["uid"] === uid);
}

/** Which feeds a process has taken, from its log. */
function feedsHeldBy(service: ServiceProcess): string[] {
  return service
    .logLines()
    .filter((line) => line["msg"] === "feed lease taken")
    .map((line) => String(line["feed"]));
}

/** Whether a process holds both platform-message feeds (invitations run on a third). */
function holdsPlatformFeeds(service: ServiceProcess): boolean {
  const held = feedsHeldBy(service);
  return held.includes("platform-index") && held.includes("fga-sync");
}

describe("outbox", () => {
  let first: ServiceProcess;
  let second: ServiceProcess;

  it("sends access messages once the platform's stream exists, without a restart", async () => {
    first = await start();
    const created = await ok<{ uid: string; revision: number }>(
      client,
      "lfx.meetings.create",
      meetingInput({ organizers: ["ada"] }),
    );
    // Index messages and events do not wait behind the missing stream.
    await until(() => platform.indexOf(created.uid).length > 0, {
      message: "the index message while fga-sync-events does not exist",
    });
    await until(() => platform.eventsOf(created.uid).length > 0, { message: "the event" });

    await createFgaStream(client);
    const access = await until(
      async () => {
        const found = updateAccessOf(await fgaMessages(client), created.uid);
        return found.length > 0 ? found : undefined;
      },
      { timeoutMs: 15_000, message: "update_access after the stream was created" },
    );
    expect(access[0]?.body.data["relations"]).toEqual({ organizer: ["ada"] });
  }, 60_000);

  it("loses no acknowledged change's messages when the sending instance is killed", async () => {
    second = await start();
    await until(() => holdsPlatformFeeds(first), { message: "the first to hold the feeds" });

    const project = randomUUID();
    const load = new Load({
      workers: 8,
      send: (seq) =>
        request(
          client,
          "lfx.meetings.create",
          meetingInput({ project_uid: project, title: `${seq}` }),
          {
            timeoutMs: 3000,
          },
        ),
    }).start();
    await until(() => load.outcomes.filter(isSuccess).length >= 150, {
      timeoutMs: 20_000,
      message: "150 creates before the kill",
    });
    const killedAt = Date.now();
    await first.kill();
    await until(() => load.between(killedAt).filter(isSuccess).length >= 150, {
      timeoutMs: 30_000,
      message: "150 creates after the kill",
    });
    const outcomes = await load.stop();
    await until(() => holdsPlatformFeeds(second), { message: "the feeds taken over" });

    const acknowledged = outcomes
      .filter(isSuccess)
      .map((o) => (o.body as { uid: string; revision: number }).uid);
    const missing = async () => {
      const access = new Set(
        (await fgaMessages(client))
          .filter((m) => m.body.operation === "update_access")
          .map((m) => m.body.data["uid"]),
      );
      return {
        index: acknowledged.filter((uid) => platform.indexOf(uid).length === 0),
        events: acknowledged.filter((uid) => platform.eventsOf(uid).length === 0),
        access: acknowledged.filter((uid) => !access.has(uid)),
      };
    };
    const left = await until(
      async () => {
        const m = await missing();
        return m.index.length + m.events.length + m.access.length === 0 ? m : undefined;
      },
      { timeoutMs: 30_000, message: "every acknowledged create's messages" },
    ).catch(async (err: unknown) => {
      throw new Error(`still missing: ${JSON.stringify(await missing())}`, { cause: err });
    });
    expect(left).toEqual({ index: [], events: [], access: [] });

    // Counted: one created index message per create, at least; repeats come only from the
    // failover (messages are full state), and no event of a meeting is older than one before it.
    const indexCreated = acknowledged.map(
      (uid) =>
        platform
          .indexOf(uid)
          .filter((m) => m.subject === "lfx.index.meeting" && m.body.action === "created").length,
    );
    expect(Math.min(...indexCreated)).toBeGreaterThanOrEqual(1);
    const repeats = indexCreated.filter((count) => count > 1).length;
    report("outbox: sending instance SIGKILLed under load", {
      outcomes: tally(outcomes),
      acknowledged: acknowledged.length,
      index_messages: platform.index.length,
      events: platform.events.length,
      repeated_after_failover: repeats,
    });
    for (const uid of acknowledged) {
      const revisions = platform
        .eventsOf(uid)
        .filter((e) => e.body.resource === "meetings")
        .map((e) => e.body.revision);
      expect(revisions).toEqual([...revisions].sort((a, b) => a - b));
    }
  }, 120_000);

  it("`npm run reindex` sends every meeting again and exits 0", async () => {
    const before = platform.index.filter((m) => m.subject === "lfx.index.meeting").length;
    const meetings = (await runTool("reindex", server.url, "meetings")).code;
    expect(meetings).toBe(0);
    const bad = await runTool("reindex", server.url, "nonsense");
    expect([bad.code, bad.stderr]).toEqual([
      2,
      expect.stringContaining("unknown resource") as string,
    ]);
    const all = await runTool("reindex", server.url);
    expect([all.code, all.stderr]).toEqual([
      0,
      expect.stringMatching(/^reindexed \d+ entities\n$/) as string,
    ]);
    const live = new Set(
      platform.index
        .filter((m) => m.subject === "lfx.index.meeting" && m.body.action === "created")
        .map((m) => m.body.indexing_config["object_id"]),
    );
    await until(
      () =>
        platform.index.filter((m) => m.subject === "lfx.index.meeting").length >=
        before + 2 * live.size,
      { message: "every meeting indexed twice more" },
    );
  }, 60_000);
});
