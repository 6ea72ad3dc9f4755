// docs/CONTRACT.md §1 "shutdown" and configuration, on the real process (`node dist/main.js`):
// SIGTERM or SIGINT stops taking requests, finishes those in flight, drains and exits 0 within 10
// s.
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { createServer } from "node:net";
import { meetingInput } from "../support/builders.js";
import { discover, SERVICE, type PingResponse } from "../support/micro.js";
import { startNatsServer, type NatsServerHandle } from "../support/nats-server.js";
import { request } from "../support/request.js";
import { connectClient } from "../support/service.js";
import {
  ensureBuilt,
  killAllServiceProcesses,
  spawnService,
  type Exit,
  type ServiceProcess,
} from "../support/service-process.js";
import { until } from "../support/until.js";

const EXIT_DEADLINE_MS = 10_000;

let server: NatsServerHandle;
let client: NatsConnection;

beforeAll(async () => {
  ensureBuilt();
  server = await startNatsServer();
  client = await connectClient(server.url);
}, 180_000);

// A process a failed test left running.
afterEach(killAllServiceProcesses);

afterAll(async () => {
  await client?.close();
  await server?.stop();
});

async function startReady(): Promise<ServiceProcess> {
  const service = spawnService({ NATS_URL: server.url, LOG_LEVEL: "info" });
  // Readiness (docs/CONTRACT.md §1): the service answers $SRV.PING once its buckets are ready.
  await until(
    async () => {
      if (service.child.exitCode !== null) throw new Error(`exited: ${service.stderr()}`);
      return discover<PingResponse>(client, "PING", undefined, 500);
    },
    { timeoutMs: 20_000, message: "the service to answer $SRV.PING" },
  );
  return service;
}

describe.each(["SIGTERM", "SIGINT"] as const)("%s", (signal) => {
  it("finishes the 50 requests in flight, drains and exits 0 within 10 s", async () => {
    const service = await startReady();
    const pings = await discover<PingResponse>(client, "PING");
    expect(pings.name).toBe(SERVICE);

    const replies = Array.from({ length: 50 }, () =>
      request<{ uid: string }>(client, "lfx.meetings.create", meetingInput()),
    );
    // Every request has reached NATS, and so the service's subscription, before the signal.
    await client.flush();
    const signalled = Date.now();
    service.child.kill(signal);

    const settled = await Promise.allSettled(replies);
    const outcomes = settled.map((s) =>
      s.status === "fulfilled" ? s.value.status : String(s.reason),
    );
    expect(outcomes).toEqual(Array<number>(50).fill(200));

    const exit = await service.exitWithin(EXIT_DEADLINE_MS);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalled).toBeLessThan(EXIT_DEADLINE_MS);

    // Every reply names a meeting that was really stored.
    const uids = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value.body.uid] : []));
    expect(new Set(uids).size).toBe(50);
    const meetings = await new Kvm(client).open("meetings");
    for (const uid of uids) expect((await meetings.get(uid))?.operation).toBe("PUT");

    // JSON lines on stdout, from "shutting down" to "stopped".
    const lines = service.logLines();
    const messages = lines.map((line) => line["msg"]);
    const shuttingDown = lines.findIndex(
      (line) => typeof line["msg"] === "string" && line["msg"].startsWith("shutting down"),
    );
    expect(shuttingDown).toBeGreaterThanOrEqual(0);
    expect(lines[shuttingDown]?.["signal"]).toBe(signal);
    expect(messages.indexOf("stopped")).toBeGreaterThan(shuttingDown);
    const completed = lines.filter(
      (line) => line["msg"] === "request completed" && line["subject"] === "lfx.meetings.create",
    );
    expect(completed).toHaveLength(50);
    // The signal came while requests were still being worked on: the test is not vacuous.
    expect(
      lines.slice(shuttingDown).filter((line) => line["msg"] === "request completed").length,
    ).toBeGreaterThan(0);

    // Nothing answers any more.
    const after = await request(client, "lfx.meetings.get", { uid: "gone" }).catch(
      (err: unknown) => err,
    );
    expect(String(after)).toMatch(/no responders|503/i);
  }, 60_000);
});

/** A loopback port that nothing listens on (it was free a moment ago). */
async function unusedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const address = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** Well within the 10 s: start-up has nothing in flight to finish. */
const START_UP_EXIT_MS = 3000;

describe("a signal during start-up", () => {
  let withoutJetStream: NatsServerHandle;

  beforeAll(async () => {
    withoutJetStream = await startNatsServer({ jetstream: false });
  }, 30_000);

  afterAll(async () => {
    await withoutJetStream?.stop();
  });

  async function signalAfter(
    env: Record<string, string>,
    logged: string,
    signal: NodeJS.Signals,
  ): Promise<{ exit: Exit | "timeout"; elapsedMs: number; messages: unknown[] }> {
    const service = spawnService({ LOG_LEVEL: "info", ...env });
    await until(
      () => {
        if (service.child.exitCode !== null) throw new Error(`exited: ${service.stderr()}`);
        return service.logLines().some((line) => line["msg"] === logged);
      },
      { timeoutMs: 20_000, message: `the service to log "${logged}"` },
    );
    const signalled = Date.now();
    service.child.kill(signal);
    const exit = await service.exitWithin(EXIT_DEADLINE_MS);
    return {
      exit,
      elapsedMs: Date.now() - signalled,
      messages: service.logLines().map((line) => line["msg"]),
    };
  }

  it.each(["SIGTERM", "SIGINT"] as const)(
    "%s while JetStream does not answer yet: exit 0 at once",
    async (signal) => {
      const { exit, elapsedMs, messages } = await signalAfter(
        { NATS_URL: withoutJetStream.url },
        "JetStream is not ready; retrying",
        signal,
      );
      expect(exit).toEqual({ code: 0, signal: null });
      expect(elapsedMs).toBeLessThan(START_UP_EXIT_MS);
      const shuttingDown = messages.indexOf("shutting down during start-up");
      expect(shuttingDown).toBeGreaterThanOrEqual(0);
      expect(messages.indexOf("stopped")).toBeGreaterThan(shuttingDown);
      expect(messages).not.toContain("service started");
    },
    30_000,
  );

  it("SIGTERM while NATS is not reachable yet: exit 0 at once", async () => {
    const { exit, elapsedMs, messages } = await signalAfter(
      { NATS_URL: `nats://127.0.0.1:${await unusedPort()}` },
      "connecting to NATS",
      "SIGTERM",
    );
    expect(exit).toEqual({ code: 0, signal: null });
    expect(elapsedMs).toBeLessThan(START_UP_EXIT_MS);
    expect(messages).not.toContain("connected to NATS");
    expect(messages.indexOf("stopped")).toBeGreaterThan(
      messages.indexOf("shutting down during start-up"),
    );
  }, 30_000);
});

it("refuses to start with LOG_LEVEL=bogus, naming the variable", async () => {
  const service = spawnService({ NATS_URL: server.url, LOG_LEVEL: "bogus" });
  const exit = await service.exitWithin(EXIT_DEADLINE_MS);
  expect(exit).not.toBe("timeout");
  expect(exit === "timeout" ? undefined : exit.code).not.toBe(0);
  expect(service.stderr()).toMatch(/LOG_LEVEL/);
  expect(service.stderr()).toMatch(/bogus/);
}, 30_000);
