// Entry point: config -> logger -> connect -> start service -> wait for a signal -> shut down.
import { setFlagsFromString } from "node:v8";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ConfigError, loadConfig, natsIdentity, requireJwksSource, type Config } from "./config.js";
import { createLogger, stdoutDestination, type Logger } from "./logger.js";
import { startService, SERVICE_NAME, type RunningService } from "./service.js";

/** docs/CONTRACT.md §1: exit 0 within 10 s of SIGTERM/SIGINT. */
const SHUTDOWN_GRACE_MS = 8000;

/**
 * V8 lets the heap grow to up to 4x what survived the last full collection. When every instance
 * kept an in-process key index (since removed, docs/ARCHITECTURE.md "Lists"), that survivor was
 * large and under load the peak RSS reached ~380 MB (bench/).
 * Growing by 50% at a time kept the peak near 175 MB (bench/: 195 MB at 100%, with 15% more
 * throughput than at 20%, whose more frequent collections also lengthened the p99). Read by V8
 * whenever it sets the next limit.
 */
const HEAP_GROWING_PERCENT = 50;

async function connectToNats(config: Config, log: Logger): Promise<NatsConnection> {
  // Shows that the process is up while NATS is not yet (it may come later); no URLs, as they may
  // carry credentials.
  log.info({ servers: config.natsServers.length }, "connecting to NATS");
  const nc = await connect({
    servers: config.natsServers,
    name: SERVICE_NAME,
    // Keep trying forever, from the first attempt on: NATS may come up after the service.
    maxReconnectAttempts: -1,
    waitOnFirstConnect: true,
    reconnectTimeWait: 500,
    // Otherwise every request (each KV call) builds two Error objects up front only to enrich a
    // possible failure's stack: ~10% of the service's CPU per request (bench/). Store errors are
    // translated and logged with their cause anyway.
    noAsyncTraces: true,
    ...natsIdentity(config),
  });
  log.info({ server: nc.getServer(), version: nc.info?.version }, "connected to NATS");
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "ping" || status.type === "staleConnection") continue;
      log.info({ nats: status }, `NATS connection: ${status.type}`);
    }
  })();
  return nc;
}

async function main(): Promise<void> {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  let config: Config;
  try {
    config = loadConfig();
    requireJwksSource(config.auth);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`configuration error: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  // The logger's stdout, held here so that an exit can wait for its last lines (`exit` below).
  const logDestination = stdoutDestination();
  const log = createLogger(config.logLevel, logDestination);
  /**
   * Exits once every log line is out: pino writes stdout asynchronously, and an exit in the middle
   * of a write loses that line or puts it after the ones behind it.
   */
  const exit = (code: number) => {
    process.exitCode = code;
    logDestination.once("close", () => process.exit(code));
    logDestination.end();
  };

  // The handlers go in before anything that can wait (connecting, JetStream not ready yet), so a
  // signal at any point of start-up stops the process with exit 0 too (docs/CONTRACT.md §1).
  const startup = new AbortController();
  const started: { nc?: NatsConnection; running?: RunningService } = {};
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    const forceExit = setTimeout(() => {
      log.error("shutdown took too long; exiting");
      process.exit(1);
    }, SHUTDOWN_GRACE_MS + 1500);
    forceExit.unref();
    try {
      const { nc, running } = started;
      if (running === undefined) {
        // Nothing is served yet: end the wait for NATS or JetStream; a connection still being
        // made has nothing to close.
        log.info({ signal }, "shutting down during start-up");
        startup.abort();
        await nc?.close();
      } else {
        log.info({ signal }, "shutting down: finishing requests in flight");
        await running.stop(SHUTDOWN_GRACE_MS);
        await nc?.drain();
      }
      log.info("stopped");
      exit(0);
    } catch (err) {
      log.error({ err }, "shutdown failed");
      exit(1);
    }
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));

  const nc = await connectToNats(config, log);
  started.nc = nc;
  try {
    started.running = await startService(nc, config, log, startup.signal);
  } catch (err) {
    // An abandoned start-up; shutdown() ends the process.
    if (stopping) return;
    if (err instanceof ConfigError) {
      // A setting only start-up can judge (a JWKS_FILE that cannot be read).
      log.fatal({ err }, `configuration error: ${err.message}`);
      process.stderr.write(`configuration error: ${err.message}\n`);
      await nc.close();
      exit(2);
      return;
    }
    throw err;
  }
  void started.running.failed.then(async (err) => {
    if (stopping) return;
    stopping = true;
    log.fatal({ err }, "the service stopped serving; exiting so that it is replaced");
    await nc.close().catch(() => undefined);
    exit(1);
  });
}

process.on("unhandledRejection", (reason) => {
  // The adapter catches everything; reaching this is a bug, but it must not take the service down.
  process.stderr.write(
    `${JSON.stringify({ level: "error", msg: "unhandled rejection", reason: String(reason) })}\n`,
  );
});

main().catch((err: unknown) => {
  process.stderr.write(
    `fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
