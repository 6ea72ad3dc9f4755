// Composition root: buckets -> repositories -> handler tables -> micro endpoints. The only place
// that knows every part; it registers endpoints only once the buckets (and their key indexes) are
// ready, so `$SRV.PING` is answered only by an instance that can serve (CONTRACT §1).
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { Svcm, type Service, type ServiceStats } from "@nats-io/services";
import { nanoid } from "nanoid";
import pLimit from "p-limit";
import type { Config } from "./config.js";
import { natsEventPublisher } from "./events.js";
import { createEndpoints } from "./handlers/index.js";
import type { Logger } from "./logger.js";
import { createMessageHandler } from "./rpc/adapter.js";
import { endpointName } from "./rpc/endpoint.js";
import { DeliveryQueue } from "./invitations/delivery.js";
import { Invitations } from "./invitations/invitations.js";
import { createMailer } from "./invitations/mailer.js";
import type { Announcement, SendRecord } from "./invitations/records.js";
import { IdempotentCreates, type IdempotencyRecord } from "./rpc/idempotency.js";
import { loadRequestSchemas } from "./rpc/schemas.js";
import { EndpointStats } from "./rpc/stats.js";
import { closeBuckets, openBuckets } from "./store/buckets.js";
import { KvRepository, translateStoreError } from "./store/kv-repository.js";
import { createRepositories } from "./store/repositories.js";

export const SERVICE_NAME = "lfx-meeting-service";
/** Creating a key index's feed on a large bucket takes seconds on nats-server 2.9 (buckets.ts). */
const KEY_INDEX_FEED_TIMEOUT_MS = 60_000;
export const QUEUE_GROUP = "lfx-meeting-service";
const DESCRIPTION = "LFX meetings: meetings, registrants, RSVPs, past meetings and their artifacts";

const packageJson = JSON.parse(
  readFileSync(new URL("../package.json", import.meta.url), "utf8"),
) as { version: string };
export const SERVICE_VERSION = packageJson.version;

export interface RunningService {
  service: Service;
  /**
   * Calendar invitations (CONTRACT §11), to be handed every committed change of meetings and
   * registrants by the outbox feed (src/outbox/).
   */
  invitations: Invitations;
  /** Stops taking requests, finishes those in flight (up to `graceMs`), releases the buckets. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Opens the buckets (waiting for JetStream as long as it takes) and registers the endpoints.
 * Aborting `startup` (a signal during start-up, main.ts) ends the wait: the promise then rejects
 * with the signal's reason.
 */
export async function startService(
  nc: NatsConnection,
  config: Config,
  log: Logger,
  startup?: AbortSignal,
): Promise<RunningService> {
  const timeout = config.kvTimeoutMs;
  const js = jetstream(nc, { timeout });
  const buckets = await whenJetStreamAnswers(log, startup, async () =>
    openBuckets({
      js,
      feedJs: jetstream(nc, { timeout: KEY_INDEX_FEED_TIMEOUT_MS }),
      jsm: await jetstreamManager(nc, { timeout }),
      replicas: config.kvReplicas,
      log,
      kvTimeoutMs: timeout,
    }),
  );
  if (startup?.aborted === true) {
    // Endpoints registered now would outlive the start-up that was abandoned.
    await closeBuckets(buckets);
    throw startup.reason;
  }
  const schemas = await loadRequestSchemas();

  // A reply must fit the server's max payload; lists cut their pages to this (store/paging.ts).
  const maxReplyBytes = nc.info?.max_payload ?? 1024 * 1024;
  const repos = createRepositories(buckets);
  const mailer = createMailer(config.email);
  const invitations = new Invitations({
    repos,
    announcements: new KvRepository<Announcement>(buckets.invitations),
    sends: new KvRepository<SendRecord>(buckets.invitations),
    queue: new DeliveryQueue(mailer, config.email, log),
    from: config.email.from,
    log,
    now: () => new Date(),
  });
  if (config.email.smtpUrl === undefined) {
    log.warn({ dir: config.email.dir }, "no SMTP_URL: invitation emails are written as .eml files");
  }
  const endpoints = createEndpoints({
    repos,
    invitations,
    events: natsEventPublisher(nc, log),
    now: () => new Date(),
    maxReplyBytes,
    publicLinkBaseUrl: config.publicLinkBaseUrl,
    newId: () => nanoid(),
  });
  const served = new Set(endpoints.map((e) => e.subject));
  const unserved = [...schemas.keys()].filter((subject) => !served.has(subject as never));
  if (unserved.length > 0) log.warn({ subjects: unserved }, "request schemas without an endpoint");

  const stats = new EndpointStats();
  const limit = pLimit(config.maxInFlight);
  const adapterDeps = {
    log,
    stats,
    limit,
    idempotency: new IdempotentCreates({
      records: new KvRepository<IdempotencyRecord>(buckets.idempotency),
      now: () => Date.now(),
      leaseMs: 2 * timeout + 1000,
      waitMs: timeout,
      pollMs: 25,
    }),
    newUid: () => nanoid(),
    requestDeadlineMs: 2 * timeout + 500,
  };

  const service = await new Svcm(nc).add({
    name: SERVICE_NAME,
    version: SERVICE_VERSION,
    description: DESCRIPTION,
    queue: QUEUE_GROUP,
  });
  for (const endpoint of endpoints) {
    const schema = schemas.get(endpoint.subject);
    if (schema === undefined) throw new Error(`no request schema for ${endpoint.subject}`);
    const handler = createMessageHandler(endpoint, schema, adapterDeps);
    service.addEndpoint(endpointName(endpoint.subject), {
      subject: endpoint.subject,
      queue: QUEUE_GROUP,
      metadata: { request_schema: JSON.stringify(schema.bundled) },
      handler: (err, msg) => {
        if (err === null) handler(msg);
      },
    });
  }
  overrideStats(service, stats);
  log.info({ endpoints: endpoints.length, version: SERVICE_VERSION }, "service started");

  return {
    service,
    invitations,
    async stop(graceMs = 8000) {
      await service.stop();
      const idle = waitUntilIdle(limit);
      const timedOut = await Promise.race([
        idle.then(() => false),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(true), graceMs).unref()),
      ]);
      if (timedOut)
        log.warn({ active: limit.activeCount }, "stopped with requests still in flight");
      mailer.close();
      await closeBuckets(buckets);
    },
  };
}

/**
 * Runs `open` until JetStream answers it. At start it may not yet: a cluster that is starting or
 * electing leaders after a restart answers "no responders" or times out for seconds (FACTS.md),
 * which is a wait, not a reason to exit (CONTRACT §1: NATS may come up after the service). Any
 * other failure (permissions, a bucket that cannot be created) still fails the start, and so does
 * an abort of `startup`, at once, also in the middle of the pause between attempts.
 */
async function whenJetStreamAnswers<T>(
  log: Logger,
  startup: AbortSignal | undefined,
  open: () => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    startup?.throwIfAborted();
    try {
      return await open();
    } catch (err) {
      startup?.throwIfAborted();
      if (translateStoreError(err, "", "").code !== "unavailable") throw err;
      const retryInMs = Math.min(500 * attempt, 5000);
      log.warn({ err, attempt, retry_in_ms: retryInMs }, "JetStream is not ready; retrying");
      await sleep(retryInMs, undefined, startup === undefined ? {} : { signal: startup });
    }
  }
}

/**
 * `$SRV.STATS` from the adapter's counters: the framework's own miss everything an async handler
 * does (FACTS.md) and omit `last_error`, which the io.nats.micro.v1 schema requires.
 */
function overrideStats(service: Service, stats: EndpointStats): void {
  const frameworkStats = service.stats.bind(service);
  service.stats = async (): Promise<ServiceStats> => {
    const base = await frameworkStats();
    return {
      ...base,
      endpoints: (base.endpoints ?? []).map((endpoint) => ({
        name: endpoint.name,
        subject: endpoint.subject,
        ...(endpoint.queue_group === undefined ? {} : { queue_group: endpoint.queue_group }),
        ...stats.snapshot(endpoint.name),
      })),
    };
  };
}

async function waitUntilIdle(limit: { activeCount: number; pendingCount: number }) {
  while (limit.activeCount + limit.pendingCount > 0) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
