// A throwaway nats-server per test file: a temporary config on a random loopback port
// (`listen: 127.0.0.1:-1`, read back from the ports file) with a temporary JetStream store, so
// tests never touch port 4222 or a server someone else is running.

import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { constants as fsConstants } from "node:fs";
import { access, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { Socket, connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { until } from "./until.js";

export interface NatsServerOptions {
  /** Enable JetStream with a store under the temporary directory (default true). */
  jetstream?: boolean;
  /** Appended verbatim to the generated configuration. */
  extraConfig?: string;
  /** Use this JetStream store instead of a fresh one; it belongs to the caller and is never removed. */
  storeDir?: string;
  /**
   * `jetstream { sync_interval }`: "always" flushes every write to disk before acknowledging it;
   * unset, the server's default (a flush every two minutes).
   */
  syncInterval?: string | undefined;
}

export interface NatsServerHandle {
  /** `nats://127.0.0.1:<port>`; stays the same across `restart()`. */
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  /** Process id of the current server process (changes on `restart()`). */
  readonly pid: number;
  /**
   * SIGTERM (SIGKILL if it lingers), wait for the exit and remove the temporary directory; with
   * `keepStore` the JetStream store stays for a later `startNatsServer({ storeDir })`. Safe to call
   * twice and after the process died.
   */
  stop(options?: { keepStore?: boolean }): Promise<void>;
  /** SIGKILL, as a crash would, and wait for the exit; the store stays for `restart()`. */
  kill(): Promise<void>;
  /**
   * Start again on the same port with the same store and wait until it accepts clients; `changes`
   * apply from this start on.
   */
  restart(changes?: Pick<NatsServerOptions, "syncInterval">): Promise<void>;
}

const NOT_FOUND_MESSAGE =
  "nats-server not found: run `make test` (fetches the project's nats-server, scripts/nats-server-bin.sh) or set NATS_SERVER_BIN=$(scripts/nats-server-bin.sh)";
const PROJECT_SERVER_SCRIPT = fileURLToPath(
  new URL("../../scripts/nats-server-bin.sh", import.meta.url),
);
const READY_TIMEOUT_MS = 10_000;
const GRACEFUL_STOP_MS = 10_000;
const STDERR_TAIL_LINES = 40;

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * NATS_SERVER_BIN (what `make test` sets), else the project's own server as
 * scripts/nats-server-bin.sh provides it (2.10; fetched on first use): never whatever nats-server
 * happens to be on the PATH, which on Debian bookworm is 2.9.10.
 */
async function findBinary(): Promise<string> {
  const fromEnv = process.env["NATS_SERVER_BIN"];
  if (fromEnv !== undefined && fromEnv !== "") {
    if (await isExecutable(fromEnv)) return fromEnv;
    throw new Error(`${NOT_FOUND_MESSAGE} (NATS_SERVER_BIN=${fromEnv} is not executable)`);
  }
  try {
    const found = execFileSync(PROJECT_SERVER_SCRIPT, { encoding: "utf8" }).trim();
    process.env["NATS_SERVER_BIN"] = found;
    return found;
  } catch (err) {
    throw new Error(`${NOT_FOUND_MESSAGE}: ${String(err)}`);
  }
}

/**
 * `setpriv --pdeathsig KILL` (util-linux, always present on Debian) makes the kernel kill the
 * server when the test process dies, however it dies. An exit hook cannot do that under jest: a
 * test file sees a copy of `process` whose "exit" listeners never run, and a killed worker runs
 * nothing at all. Without setpriv the server is spawned directly and only `stop()` ends it.
 */
async function findDeathSignalWrapper(): Promise<string | undefined> {
  for (const candidate of ["/usr/bin/setpriv", "/bin/setpriv"]) {
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function renderConfig(opts: {
  serverName: string;
  port: number | "random";
  portsFileDir: string;
  storeDir: string | undefined;
  syncInterval: string | undefined;
  extraConfig: string | undefined;
}): string {
  const lines = [
    `server_name: ${JSON.stringify(opts.serverName)}`,
    `listen: "127.0.0.1:${opts.port === "random" ? -1 : opts.port}"`,
    `ports_file_dir: ${JSON.stringify(opts.portsFileDir)}`,
  ];
  if (opts.storeDir !== undefined) {
    lines.push(`jetstream {`, `  store_dir: ${JSON.stringify(opts.storeDir)}`);
    if (opts.syncInterval !== undefined) lines.push(`  sync_interval: ${opts.syncInterval}`);
    lines.push(`}`);
  }
  if (opts.extraConfig !== undefined) lines.push(opts.extraConfig);
  return lines.join("\n") + "\n";
}

/** The client port from `<exe>_<pid>.ports`, or undefined while the server has not written it. */
async function readPortsFile(dir: string, pid: number): Promise<number | undefined> {
  const name = (await readdir(dir)).find((file) => file.endsWith(`_${pid}.ports`));
  if (name === undefined) return undefined;
  const parsed = JSON.parse(await readFile(join(dir, name), "utf8")) as { nats?: unknown };
  const first: unknown = Array.isArray(parsed.nats) ? parsed.nats[0] : undefined;
  if (typeof first !== "string") return undefined;
  return Number(new URL(first).port);
}

/** True once the server greets a TCP client with its INFO line. */
function acceptsClients(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: "127.0.0.1", port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once("data", (chunk: Buffer) => done(chunk.toString("utf8").startsWith("INFO")));
    socket.once("error", () => done(false));
  });
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null || child.pid === undefined;
}

function waitForExit(child: ChildProcess): Promise<void> {
  if (hasExited(child)) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

// Every server of this module instance (one per test file) not yet stopped, for `stopAll()`.
const unstopped = new Set<LocalNatsServer>();

class LocalNatsServer implements NatsServerHandle {
  private child: ChildProcess | undefined;
  private stderrTail: string[] = [];
  private currentPort = 0;
  private removed = false;

  constructor(
    private readonly binary: string,
    private readonly wrapper: string | undefined,
    private readonly dir: string,
    readonly storeDir: string,
    private readonly ownsStore: boolean,
    private options: NatsServerOptions,
  ) {}

  get port(): number {
    return this.currentPort;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.currentPort}`;
  }

  get pid(): number {
    return this.child?.pid ?? -1;
  }

  private get configPath(): string {
    return join(this.dir, "nats-server.conf");
  }

  async start(port: number | "random"): Promise<void> {
    if (this.removed) throw new Error("this nats-server was stopped; start a new one");
    const config = renderConfig({
      serverName: `test-${basename(this.dir)}`,
      port,
      portsFileDir: this.dir,
      storeDir: this.options.jetstream === false ? undefined : this.storeDir,
      syncInterval: this.options.syncInterval,
      extraConfig: this.options.extraConfig,
    });
    await writeFile(this.configPath, config);

    this.stderrTail = [];
    const serverArgs = ["-c", this.configPath];
    const child =
      this.wrapper === undefined
        ? spawn(this.binary, serverArgs, { stdio: ["ignore", "ignore", "pipe"] })
        : spawn(this.wrapper, ["--pdeathsig", "KILL", "--", this.binary, ...serverArgs], {
            stdio: ["ignore", "ignore", "pipe"],
          });
    this.child = child;
    // Neither the process nor its stderr keeps the test process alive: a forgotten `stop()` must
    // not hang jest, and the death signal still ends the server when jest exits.
    child.unref();
    if (child.stderr instanceof Socket) child.stderr.unref();
    child.on("error", (err) => this.note(`spawn error: ${err.message}`));
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      for (const line of chunk.split("\n")) if (line !== "") this.note(line);
    });

    const pid = child.pid;
    try {
      const ready = await until(
        async () => {
          if (hasExited(child) || pid === undefined) return "exited";
          const found = await readPortsFile(this.dir, pid);
          if (found === undefined || !(await acceptsClients(found))) return undefined;
          return found;
        },
        { timeoutMs: READY_TIMEOUT_MS, intervalMs: 20, message: "nats-server to accept clients" },
      );
      if (ready === "exited") throw new Error("nats-server exited during start-up");
      if (port !== "random" && ready !== port) {
        throw new Error(`nats-server listens on ${ready}, expected ${port}`);
      }
      this.currentPort = ready;
    } catch (err) {
      this.killNow();
      await waitForExit(child);
      const reason = err instanceof Error ? err.message : String(err);
      const tail = this.stderrTail.join("\n");
      throw new Error(`${reason}\nnats-server stderr (last lines):\n${tail}`, { cause: err });
    }
  }

  private note(line: string): void {
    this.stderrTail.push(line);
    if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.shift();
  }

  private killNow(): void {
    const child = this.child;
    if (child === undefined || hasExited(child)) return;
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }

  private async terminate(): Promise<void> {
    const child = this.child;
    if (child === undefined || hasExited(child)) return;
    child.kill("SIGTERM");
    const exited = waitForExit(child);
    let timer: NodeJS.Timeout | undefined;
    const lingering = new Promise<"lingering">((resolve) => {
      timer = setTimeout(() => resolve("lingering"), GRACEFUL_STOP_MS);
    });
    try {
      if ((await Promise.race([exited, lingering])) === "lingering") {
        this.killNow();
        await exited;
      }
    } finally {
      clearTimeout(timer);
    }
  }

  async stop(options: { keepStore?: boolean } = {}): Promise<void> {
    await this.terminate();
    unstopped.delete(this);
    if (this.removed) return;
    this.removed = true;
    if (!this.ownsStore || options.keepStore !== true) {
      // A caller's store lives outside the temporary directory.
      await rm(this.dir, { recursive: true, force: true });
      return;
    }
    const storeName = basename(this.storeDir);
    const files = await readdir(this.dir).catch(() => []);
    await Promise.all(
      files
        .filter((file) => file !== storeName)
        .map((file) => rm(join(this.dir, file), { recursive: true, force: true })),
    );
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    this.killNow();
    await waitForExit(child);
  }

  async restart(changes: Pick<NatsServerOptions, "syncInterval"> = {}): Promise<void> {
    if (this.currentPort === 0) throw new Error("nats-server never started");
    await this.terminate();
    this.options = { ...this.options, ...changes };
    await this.start(this.currentPort);
  }
}

/** Starts a private nats-server and resolves once it accepts client connections. */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const binary = await findBinary();
  const dir = await mkdtemp(join(tmpdir(), "nats-test-"));
  const server = new LocalNatsServer(
    binary,
    await findDeathSignalWrapper(),
    dir,
    options.storeDir ?? join(dir, "js"),
    options.storeDir === undefined,
    options,
  );
  unstopped.add(server);
  try {
    await server.start("random");
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}

/** Stops every server this module started that is still running (for an afterAll that wants to be sure). */
export async function stopAll(): Promise<void> {
  await Promise.all([...unstopped].map((server) => server.stop()));
}
