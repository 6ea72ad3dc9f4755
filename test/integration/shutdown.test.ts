// CONTRACT §1 "shutdown" and configuration, on the real process (`node dist/main.js`): SIGTERM or
// SIGINT stops taking requests, finishes those in flight, drains and exits 0 within 10 s.
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { execSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { meetingInput } from "../support/builders.js";
import { discover, SERVICE, type PingResponse } from "../support/micro.js";
import { startNatsServer, type NatsServerHandle } from "../support/nats-server.js";
import { request } from "../support/request.js";
import { connectClient } from "../support/service.js";
import { until } from "../support/until.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const MAIN = join(ROOT, "dist", "main.js");
const EXIT_DEADLINE_MS = 10_000;

/** Newest modification time of any file under `dir`. */
function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Builds dist/ when it is missing or older than src/, so the process runs the code under test. */
function ensureBuilt(): void {
  if (existsSync(MAIN) && statSync(MAIN).mtimeMs >= newestMtime(join(ROOT, "src"))) return;
  execSync("npm run build", { cwd: ROOT, stdio: "pipe", timeout: 120_000 });
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

interface ServiceProcess {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<Exit>;
}

const children: ChildProcess[] = [];

function spawnService(env: Record<string, string>): ServiceProcess {
  const child = spawn(process.execPath, [MAIN], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<Exit>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** Resolves with the exit, or with "timeout" if the process is still running after `ms`. */
function exitWithin(service: ServiceProcess, ms: number): Promise<Exit | "timeout"> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
  });
  return Promise.race([service.exited, timeout]).finally(() => clearTimeout(timer));
}

function logLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

let server: NatsServerHandle;
let client: NatsConnection;

beforeAll(async () => {
  ensureBuilt();
  server = await startNatsServer();
  client = await connectClient(server.url);
}, 180_000);

afterEach(() => {
  // A process a failed test left running (only ours: each was spawned by this file).
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
});

afterAll(async () => {
  await client?.close();
  await server?.stop();
});

async function startReady(): Promise<ServiceProcess> {
  const service = spawnService({ NATS_URL: server.url, LOG_LEVEL: "info" });
  // Readiness (CONTRACT §1): the service answers $SRV.PING once its buckets are ready.
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

    const exit = await exitWithin(service, EXIT_DEADLINE_MS);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalled).toBeLessThan(EXIT_DEADLINE_MS);

    // Every reply names a meeting that was really stored.
    const uids = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value.body.uid] : []));
    expect(new Set(uids).size).toBe(50);
    const meetings = await new Kvm(client).open("meetings");
    for (const uid of uids) expect((await meetings.get(uid))?.operation).toBe("PUT");

    // JSON lines on stdout, from "shutting down" to "stopped".
    const lines = logLines(service.stdout());
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
        return logLines(service.stdout()).some((line) => line["msg"] === logged);
      },
      { timeoutMs: 20_000, message: `the service to log "${logged}"` },
    );
    const signalled = Date.now();
    service.child.kill(signal);
    const exit = await exitWithin(service, EXIT_DEADLINE_MS);
    return {
      exit,
      elapsedMs: Date.now() - signalled,
      messages: logLines(service.stdout()).map((line) => line["msg"]),
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
  const exit = await exitWithin(service, EXIT_DEADLINE_MS);
  expect(exit).not.toBe("timeout");
  expect(exit === "timeout" ? undefined : exit.code).not.toBe(0);
  expect(service.stderr()).toMatch(/LOG_LEVEL/);
  expect(service.stderr()).toMatch(/bogus/);
}, 30_000);
