// Service instances as real processes (`node dist/main.js`), for tests of what only a process
// shows: signals, SIGKILL, and the connection options of src/main.ts. dist/ is rebuilt first
// when it is older than src/, so the process runs the code under test.
import { execSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { TEST_OUTBOX } from "./service.js";
import { until } from "./until.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const MAIN = join(ROOT, "dist", "main.js");

/** Newest modification time of any file under `dir`. */
function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Builds dist/ when it is missing or older than src/. */
export function ensureBuilt(): void {
  if (existsSync(MAIN) && statSync(MAIN).mtimeMs >= newestMtime(join(ROOT, "src"))) return;
  execSync("npm run build", { cwd: ROOT, stdio: "pipe", timeout: 120_000 });
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServiceProcess {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Log lines (JSON) written so far. */
  logLines(): Record<string, unknown>[];
  readonly exited: Promise<Exit>;
  /** SIGKILL, as a crash would, and wait for the exit. */
  kill(): Promise<Exit>;
  /** Resolves with the exit, or "timeout" if the process still runs after `ms`. */
  exitWithin(ms: number): Promise<Exit | "timeout">;
}

// Every process this module started, so that a failed test leaves none behind.
const started = new Set<ChildProcess>();

/**
 * Starts `node dist/main.js` with `env` added to this process's environment; without the
 * platform (AUTH_MODE=off, PLATFORM_LOOKUPS=off) and without invitation email (INVITATIONS=off)
 * unless `env` says otherwise, as startInstance.
 */
export function spawnService(env: Record<string, string>): ServiceProcess {
  const child = spawn(process.execPath, [MAIN], {
    cwd: ROOT,
    env: {
      ...process.env,
      AUTH_MODE: "off",
      PLATFORM_LOOKUPS: "off",
      INVITATIONS: "off",
      EMAIL_DIR: TEST_OUTBOX,
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  started.add(child);
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<Exit>((resolve) =>
    child.once("exit", (code, signal) => {
      started.delete(child);
      resolve({ code, signal });
    }),
  );
  const logLines = () =>
    stdout
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    logLines,
    exited,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      return exited;
    },
    exitWithin(ms: number) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), ms);
      });
      return Promise.race([exited, timeout]).finally(() => clearTimeout(timer));
    },
  };
}

/** Starts an instance and waits until it has registered its endpoints ("service started"). */
export async function startServiceProcess(
  env: Record<string, string>,
  timeoutMs = 30_000,
): Promise<ServiceProcess> {
  const service = spawnService({ LOG_LEVEL: "info", ...env });
  try {
    await until(
      () => {
        if (service.child.exitCode !== null) {
          throw new Error(`the service exited: ${service.stderr()}${service.stdout()}`);
        }
        return service.logLines().some((line) => line["msg"] === "service started");
      },
      { timeoutMs, intervalMs: 50, message: "the service process to start" },
    );
  } catch (err) {
    // What it was doing when it gave up: the reason is in its last lines.
    const last = `${service.stderr()}${service.stdout()}`.split("\n").slice(-20).join("\n");
    throw new Error(`${(err as Error).message}; its last output:\n${last}`, { cause: err });
  }
  return service;
}

/** SIGKILLs every process started here that still runs (for afterEach/afterAll). */
export function killAllServiceProcesses(): void {
  for (const child of started) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
}

/**
 * Runs `check-consistency` (dist/) against `natsUrl` with `args`: its exit code, its output, and
 * its findings (the stdout lines before the closing `N inconsistencies found`).
 */
export function runConsistencyCheck(
  natsUrl: string,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string; findings: string[] }> {
  return runTool("check-consistency", natsUrl, ...args);
}

/** Runs an operator's tool of dist/tools/ against `natsUrl` with `args`. */
export function runTool(
  tool: "check-consistency" | "reindex",
  natsUrl: string,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string; findings: string[] }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, "dist", "tools", `${tool}.js`), ...args], {
      cwd: ROOT,
      env: { ...process.env, NATS_URL: natsUrl },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.once("exit", (code) => {
      const findings = stdout
        .split("\n")
        .filter((line) => line !== "" && !/^\d+ inconsistenc(y|ies) found/.test(line));
      resolve({ code: code ?? -1, stdout, stderr, findings });
    });
  });
}
