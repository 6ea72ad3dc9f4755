// Starts service instances in this process against a test nats-server, each on its own
// connection (as separate processes would be), and stops them afterwards.
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { DestinationStream } from "pino";
import { loadConfig, type Config } from "../../src/config.js";
import { createLogger, type Logger } from "../../src/logger.js";
import { startService, type RunningService } from "../../src/service.js";

/** Where test instances without SMTP_URL write their emails (never the checkout's ./data). */
export const TEST_OUTBOX = join(tmpdir(), "lfx-meeting-service-test-outbox");

export interface TestInstance {
  nc: NatsConnection;
  running: RunningService;
  log: Logger;
  /** Log lines written by this instance (JSON objects), for assertions on logging. */
  logLines: Record<string, unknown>[];
  stop(): Promise<void>;
}

export interface StartInstanceOptions {
  /** Environment of the instance; AUTH_MODE defaults to `off` here. */
  env?: Record<string, string>;
  logLevel?: string;
  /** Wraps the service's connection, e.g. to inject faults (test/support/faulty-connection.ts). */
  wrapConnection?: (nc: NatsConnection) => NatsConnection;
}

export async function startInstance(
  url: string,
  options: StartInstanceOptions = {},
): Promise<TestInstance> {
  // Tests play the platform's services (tokens, access checks, lookups, a mail server)
  // themselves, and only where they are about them.
  const config: Config = loadConfig({
    NATS_URL: url,
    AUTH_MODE: "off",
    PLATFORM_LOOKUPS: "off",
    INVITATIONS: "off",
    // lfx.registrants.resend sends even so: without SMTP_URL, into a folder outside the checkout.
    EMAIL_DIR: TEST_OUTBOX,
    ...options.env,
  });
  const logLines: Record<string, unknown>[] = [];
  const destination: DestinationStream = {
    write(line: string) {
      logLines.push(JSON.parse(line) as Record<string, unknown>);
    },
  };
  const log = createLogger(options.logLevel ?? "info", destination);
  // Credentials and inbox prefix as src/main.ts passes them, for servers with permissions.
  const nc = await connect({
    servers: url,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 100,
    ...config.natsUserPassword,
    ...(config.natsInboxPrefix === undefined ? {} : { inboxPrefix: config.natsInboxPrefix }),
  });
  let running: RunningService;
  try {
    running = await startService(options.wrapConnection?.(nc) ?? nc, config, log);
  } catch (err) {
    // A connection left open keeps reconnecting forever and Jest never exits.
    await nc.close();
    throw err;
  }
  return {
    nc,
    running,
    log,
    logLines,
    async stop() {
      await running.stop(2000);
      await nc.drain().catch(() => undefined);
    },
  };
}

/** A plain client connection, as another platform service would have. */
export function connectClient(url: string): Promise<NatsConnection> {
  return connect({ servers: url });
}
