// The processes a benchmark run starts besides itself: the service (`node dist/main.js`, as in
// production) and the bare responder, each a separate process so that its memory is its own and
// CPU is shared as it would be. `setpriv --pdeathsig` ends them if the driver dies.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, openSync, closeSync, readFileSync } from "node:fs";
import { createInbox, type NatsConnection } from "@nats-io/nats-core";

const DEATH_SIGNAL_WRAPPER = ["/usr/bin/setpriv", "/bin/setpriv"].find((path) => existsSync(path));

export interface ChildHandle {
  pid: number;
  child: ChildProcess;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
}

export function spawnNode(
  script: string,
  env: Record<string, string>,
  stdoutFile: string,
): ChildHandle {
  const out = openSync(stdoutFile, "w");
  // BENCH_NODE_ARGS: node options for the processes the bench starts (`--cpu-prof` to profile
  // them; NODE_OPTIONS refuses it).
  const args = [...(process.env["BENCH_NODE_ARGS"]?.split(" ").filter(Boolean) ?? []), script];
  const child =
    DEATH_SIGNAL_WRAPPER === undefined
      ? spawn(process.execPath, args, {
          env: { ...process.env, ...env },
          stdio: ["ignore", out, "inherit"],
        })
      : spawn(DEATH_SIGNAL_WRAPPER, ["--pdeathsig", "TERM", "--", process.execPath, ...args], {
          env: { ...process.env, ...env },
          stdio: ["ignore", out, "inherit"],
        });
  closeSync(out);
  if (child.pid === undefined) throw new Error(`could not start ${script}`);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    pid: child.pid,
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

/** Resolves once `probe` succeeds, or fails when the process exits first or after `timeoutMs`. */
export async function waitReady(
  handle: ChildHandle,
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (handle.child.exitCode !== null) throw new Error(`${what} exited during start-up`);
    if (await probe().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} not ready after ${timeoutMs} ms`);
}

/** A service instance answers `$SRV.PING` once it is ready (docs/CONTRACT.md §1). */
export async function answersPing(nc: NatsConnection, service: string): Promise<boolean> {
  const msg = await nc.request(`$SRV.PING.${service}`, "", { timeout: 500 });
  return msg.data.length > 0;
}

/**
 * The ids of the instances of `service` that answer `$SRV.PING` within `waitMs` (every instance
 * answers the one request; docs/CONTRACT.md §1: an instance answers once it is ready).
 */
export async function instanceIds(
  nc: NatsConnection,
  service: string,
  waitMs = 300,
): Promise<Set<string>> {
  const ids = new Set<string>();
  const inbox = createInbox();
  const sub = nc.subscribe(inbox, {
    callback: (err, msg) => {
      if (err === null) ids.add(msg.json<{ id: string }>().id);
    },
  });
  nc.publish(`$SRV.PING.${service}`, "", { reply: inbox });
  await new Promise((resolve) => setTimeout(resolve, waitMs));
  sub.unsubscribe();
  return ids;
}

/** Peak and current resident set size of a process, in MiB (Linux: /proc/<pid>/status). */
export function memoryOf(pid: number): { peak_rss_mib: number; rss_mib: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1]);
  return { peak_rss_mib: kib("VmHWM") / 1024, rss_mib: kib("VmRSS") / 1024 };
}

/** CPU time (user + system) a process has used so far, in ms (Linux: /proc/<pid>/stat). */
export function cpuTimeMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may hold spaces) start after its closing ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
}

/** The unit of CPU times in /proc/<pid>/stat (USER_HZ): 100 on x86-64 and arm64 Linux. */
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * Waits until every process in `pids` uses under `busyShare` of a core over half a second, or
 * `timeoutMs` passes: after a bulk fill the server keeps writing its store and the service keeps
 * taking in keys for a while, and a list measured then measures that work too.
 */
export async function waitIdle(
  pids: readonly number[],
  { busyShare = 0.05, timeoutMs = 30_000 } = {},
): Promise<number> {
  const started = Date.now();
  const windowMs = 500;
  let before = pids.map(cpuTimeMsOf);
  while (Date.now() - started < timeoutMs) {
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    const now = pids.map(cpuTimeMsOf);
    const busiest = Math.max(...now.map((ms, i) => (ms - (before[i] ?? 0)) / windowMs));
    before = now;
    if (busiest < busyShare) break;
  }
  return Date.now() - started;
}
