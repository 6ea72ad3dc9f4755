// Composition root: buckets -> repositories -> handler tables -> micro endpoints. The only place
// that knows every part; it registers endpoints only once the buckets are ready, so `$SRV.PING` is
// answered only by an instance that can serve (docs/CONTRACT.md §1).
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { JetStreamApiError, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { Svcm, type Service, type ServiceStats } from "@nats-io/services";
import { nanoid } from "nanoid";
import pLimit from "p-limit";
import { AccessChecker, natsAskPlatform } from "./auth/access-check.js";
import { jwtAuthenticator, localAuthenticator } from "./auth/tokens.js";
import type { Config } from "./config.js";
import { committeeMembers } from "./handlers/committee-members.js";
import { createEndpoints, type HandlerDeps } from "./handlers/index.js";
import { applyProjectSettingsChange } from "./handlers/project-settings.js";
import { createMeetingView } from "./handlers/meeting-view.js";
import type { Logger } from "./logger.js";
import { natsPlatformLookups } from "./platform/nats-lookups.js";
import { subscribePlatformEvents, type PlatformSubscriptions } from "./platform/subscriptions.js";
import { createMessageHandler, type RequestAuth } from "./rpc/adapter.js";
import { endpointName } from "./rpc/endpoint.js";
import { DeliveryQueue } from "./invitations/delivery.js";
import { Invitations } from "./invitations/invitations.js";
import { createMailer } from "./invitations/mailer.js";
import type { Announcement, SendRecord } from "./invitations/records.js";
import { IdempotentCreates, type IdempotencyRecord } from "./rpc/idempotency.js";
import { loadRequestSchemas } from "./rpc/schemas.js";
import { EndpointStats } from "./rpc/stats.js";
import { openBuckets } from "./store/kv/buckets.js";
import { KvRepository, translateStoreError } from "./store/kv/kv-repository.js";
import type { StoredMeeting } from "./store/resources/meetings.js";
import { createRepositories } from "./store/resources/repositories.js";
import { Feed } from "./outbox/feed.js";
import { createPlatformFeeds } from "./outbox/platform-feeds.js";
import { entitySources } from "./outbox/sources.js";
import { currentCaller } from "./request-scope.js";
import type { WriteOrigin } from "./store/kv/change-headers.js";
import { answerGetTitle } from "./rpc/get-title.js";

export const SERVICE_NAME = "lfx-meeting-service";
export const QUEUE_GROUP = "lfx-meeting-service";
const DESCRIPTION = "LFX meetings: meetings, registrants, RSVPs, past meetings and their artifacts";

const packageJson = JSON.parse(
  readFileSync(new URL("../package.json", import.meta.url), "utf8"),
) as { version: string };
export const SERVICE_VERSION = packageJson.version;

export interface RunningService {
  service: Service;
  /** Resolves with the error that stopped the service on its own (never on a requested stop). */
  failed: Promise<Error>;
  /**
   * Calendar invitations (docs/CONTRACT.md §11), to be handed every committed change of meetings
   * and registrants by the outbox feed (src/outbox/).
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
  // Before the buckets: a bad JWKS_FILE stops start at once.
  const auth = await requestAuth(nc, config, log);
  const js = jetstream(nc, { timeout });
  const buckets = await whenJetStreamAnswers(log, startup, async () =>
    openBuckets({
      nc,
      js,
      jsm: await jetstreamManager(nc, { timeout }),
      replicas: config.kvReplicas,
      log,
      origin: writeOrigin,
    }),
  );
  if (startup?.aborted === true) {
    // Endpoints registered now would outlive the start-up that was abandoned.
    throw startup.reason;
  }
  const schemas = await loadRequestSchemas();
  // A reply must fit the server's max payload; lists cut their pages to this (store/kv/paging.ts).
  const maxReplyBytes = nc.info?.max_payload ?? 1024 * 1024;
  const repos = createRepositories(buckets);
  const platform = config.platformLookups
    ? natsPlatformLookups(nc, { timeoutMs: config.platformTimeoutMs, log })
    : undefined;
  const mailer = createMailer(config.email);
  const invitations = new Invitations({
    repos,
    announcements: new KvRepository<Announcement>(buckets.invitations),
    sends: new KvRepository<SendRecord>(buckets.invitations),
    queue: new DeliveryQueue(mailer, config.email, log),
    from: config.email.from,
    log,
    now: () => new Date(),
    ...(platform === undefined ? {} : { projectName: (uid: string) => platform.projectName(uid) }),
  });
  if (config.email.smtpUrl === undefined) {
    log.warn({ dir: config.email.dir }, "no SMTP_URL: invitation emails are written as .eml files");
  }
  const deps: HandlerDeps = {
    repos,
    invitations,
    now: () => new Date(),
    maxReplyBytes,
    publicLinkBaseUrl: config.publicLinkBaseUrl,
    newId: () => nanoid(),
    platform,
  };
  const meetingView = createMeetingView(deps);
  const instanceId = nanoid();
  const feeds = createPlatformFeeds({
    nc,
    js,
    buckets,
    // Events and index messages show a meeting as a reply does, with its occurrences (§7).
    showMeeting: (meeting, revision) => meetingView.reply(meeting as StoredMeeting, revision),
    serviceToken: config.serviceToken,
    log,
    instanceId,
    leaseMs: config.outboxLeaseMs,
  });
  // Invitations follow the same committed changes, on a cursor of their own: mail is slow and
  // rate-limited, and must not hold back index messages and events.
  if (config.email.invitations) {
    feeds.push(
      new Feed({
        name: "invitations",
        sources: entitySources(buckets, ["meetings", "registrants"]),
        handle: (change) => invitations.handle(change),
        control: buckets.outbox,
        log,
        instanceId,
        leaseMs: config.outboxLeaseMs,
      }),
    );
  } else {
    log.warn("INVITATIONS=off: committed changes send no invitation email");
  }
  // Before the first request: every change acknowledged from now on lies after a checkpoint.
  try {
    for (const feed of feeds) await feed.prepare();
  } catch (err) {
    throw translateStoreError(err, "meeting-service-outbox", "checkpoint");
  }

  const endpoints = createEndpoints(deps);
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
    requestDeadlineMs: config.requestDeadlineMs,
    auth,
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
      // A failed subscription never gets here: the framework stops the whole service with
      // its error (`$SRV.PING` included), which `failed` below reports.
      handler: (err, msg) => {
        if (err === null) handler(msg);
      },
    });
  }
  overrideStats(service, stats);
  const members = committeeMembers(deps);
  let platformEvents: PlatformSubscriptions | undefined;
  if (members !== undefined) {
    platformEvents = subscribePlatformEvents(
      nc,
      QUEUE_GROUP,
      {
        memberChanged: (change, eventLog) => members.applyMemberChange(change, eventLog),
        projectSettingsUpdated: (change, eventLog) =>
          applyProjectSettingsChange(deps, change, eventLog),
      },
      log,
    );
  } else {
    log.info("PLATFORM_LOOKUPS=off: projects, committees and usernames are not looked up");
  }
  const getTitle = answerGetTitle(nc, buckets.meetings, QUEUE_GROUP, log);
  for (const feed of feeds) feed.start();
  log.info({ endpoints: endpoints.length, version: SERVICE_VERSION }, "service started");

  return {
    service,
    // An endpoint's subscription failed (e.g. a permissions violation) and the framework
    // stopped the service: this instance can no longer serve, and main.ts exits non-zero so that
    // an orchestrator replaces it.
    failed: service.stopped.then((reason) => {
      if (!(reason instanceof Error)) return new Promise<never>(() => undefined);
      log.error({ err: reason }, "the service stopped: an endpoint's subscription failed");
      return reason;
    }),
    invitations,
    async stop(graceMs = 8000) {
      await service.stop();
      getTitle.unsubscribe();
      const idle = Promise.all([waitUntilIdle(limit), platformEvents?.stop(), members?.stop()]);
      const timedOut = await Promise.race([
        idle.then(() => false),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(true), graceMs).unref()),
      ]);
      if (timedOut)
        log.warn({ active: limit.activeCount }, "stopped with requests still in flight");
      // After the last request: what it wrote is sent now, or by the instance that takes over.
      await Promise.all(feeds.map((feed) => feed.stop()));
      mailer.close();
    },
  };
}

/**
 * AUTH_MODE (docs/CONTRACT.md §1, §8): verified tokens and access checks, or nobody checked at all.
 */
async function requestAuth(nc: NatsConnection, config: Config, log: Logger): Promise<RequestAuth> {
  const { auth } = config;
  if (auth.mode === "off") {
    log.warn(
      { local_principal: auth.localPrincipal },
      "AUTH_MODE=off: requests are not authenticated and no access is checked; never in production",
    );
    return { authenticator: localAuthenticator(auth.localPrincipal), checker: null };
  }
  return {
    authenticator: await jwtAuthenticator(auth),
    checker: new AccessChecker(natsAskPlatform(nc, config.kvTimeoutMs)),
  };
}

/** Who a write is made for: the caller of the request being served (src/request-scope.ts). */
function writeOrigin(): WriteOrigin | undefined {
  const caller = currentCaller();
  if (caller === undefined) return undefined;
  return {
    principal: caller.principal,
    ...(caller.username === undefined ? {} : { username: caller.username }),
    ...(caller.email === undefined ? {} : { email: caller.email }),
    ...(caller.authorization === undefined ? {} : { authorization: caller.authorization }),
  };
}

/** JSClusterNoPeersErr: the stream's replicas cannot be placed (yet). */
const CLUSTER_NO_PEERS = 10005;

/**
 * A cluster that is still forming has too few JetStream peers known for a replicated bucket:
 * nats-server 2.10 answers its creation with "no suitable peers for placement" until the other
 * nodes have joined, which is a wait too. (A cluster that really is too small says so forever; the
 * warning below repeats it.)
 */
function isClusterForming(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === CLUSTER_NO_PEERS;
}

/**
 * Runs `open` until JetStream answers it. At start it may not yet: a cluster that is starting or
 * electing leaders after a restart answers "no responders" or times out for seconds
 * (docs/MEASUREMENTS.md "A cluster under kill -9"), which is a wait, not a reason to exit
 * (docs/CONTRACT.md §1: NATS may come up after the service). Any other failure (permissions, a
 * bucket that cannot be created) still fails the start, and so does an abort of `startup`, at
 * once, also in the middle of the pause between attempts.
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
      if (translateStoreError(err, "", "").code !== "unavailable" && !isClusterForming(err)) {
        throw err;
      }
      const retryInMs = Math.min(500 * attempt, 5000);
      log.warn({ err, attempt, retry_in_ms: retryInMs }, "JetStream is not ready; retrying");
      await sleep(retryInMs, undefined, startup === undefined ? {} : { signal: startup });
    }
  }
}

/**
 * `$SRV.STATS` from the adapter's counters: the framework's own miss everything an async handler
 * does and omit `last_error` (docs/MEASUREMENTS.md "The services framework does not await
 * handlers", "Discovery replies and last_error"), which the io.nats.micro.v1 schema requires.
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
