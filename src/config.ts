// Every environment variable the service reads (CONTRACT §1), parsed and defaulted here once.
// A bad value stops start-up with a message that names the variable.

export interface Config {
  /** Servers to connect to. */
  natsServers: string[];
  /** NATS_USER and NATS_PASSWORD, which come together. */
  natsUserPassword: { user: string; pass: string } | undefined;
  /** Path of a `.creds` file (JWT + nkey seed); production's way to authenticate. */
  natsCreds: string | undefined;
  /**
   * Prefix of the service's reply subjects (the library's default is `_INBOX`). A prefix of its
   * own lets NATS permissions keep other users from subscribing to the replies of its KV reads.
   */
  natsInboxPrefix: string | undefined;
  logLevel: string;
  /** Replicas of the buckets this service creates; existing buckets keep their own. */
  kvReplicas: number;
  /** Requests one instance works on at once; more wait their turn (FACTS: no built-in limit). */
  maxInFlight: number;
  /** Deadline of each JetStream/KV call, shorter than a caller's usual 5 s request timeout. */
  kvTimeoutMs: number;
  /** A meeting's `public_link` is this followed by `/{uid}`. */
  publicLinkBaseUrl: string;
  /**
   * The service's own bearer token, for platform messages about changes made on nobody's behalf
   * (PLATFORM.md §1); the default is a placeholder for local runs.
   */
  serviceToken: string;
  /**
   * How long an instance's hold on an outbox feed lasts unrenewed (src/outbox/feed.ts): after an
   * instance dies, another sends its feeds' messages after about this long.
   */
  outboxLeaseMs: number;
}

/** One or more subject tokens: no wildcard, no whitespace, no empty token. */
const SUBJECT_PREFIX = /^[^\s.*>]+(\.[^\s.*>]+)*$/;

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number) {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(
      `${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`,
    );
  }
  return value;
}

function url(env: NodeJS.ProcessEnv, name: string, fallback: string): string {
  const raw = optional(env, name) ?? fallback;
  if (!URL.canParse(raw) || !/^https?:/.test(raw)) {
    throw new ConfigError(`${name} must be an http(s) URL, got ${JSON.stringify(raw)}`);
  }
  return raw.replace(/\/+$/, "");
}

function optional(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === "" ? undefined : value;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const natsServers = (optional(env, "NATS_URL") ?? "nats://127.0.0.1:4222")
    .split(",")
    .map((server) => server.trim())
    .filter((server) => server.length > 0);
  if (natsServers.length === 0) throw new ConfigError("NATS_URL names no server");

  const user = optional(env, "NATS_USER");
  const pass = optional(env, "NATS_PASSWORD");
  if ((user === undefined) !== (pass === undefined)) {
    throw new ConfigError("NATS_USER and NATS_PASSWORD must be set together");
  }

  const natsInboxPrefix = optional(env, "NATS_INBOX_PREFIX");
  if (natsInboxPrefix !== undefined && !SUBJECT_PREFIX.test(natsInboxPrefix)) {
    throw new ConfigError(
      `NATS_INBOX_PREFIX must be subject tokens without wildcards or spaces, got ${JSON.stringify(natsInboxPrefix)}`,
    );
  }

  const logLevel = optional(env, "LOG_LEVEL") ?? "info";
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(
      `LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got ${JSON.stringify(logLevel)}`,
    );
  }

  return {
    natsServers,
    natsUserPassword: user !== undefined && pass !== undefined ? { user, pass } : undefined,
    natsCreds: optional(env, "NATS_CREDS"),
    natsInboxPrefix,
    logLevel,
    kvReplicas: integer(env, "KV_REPLICAS", 1, 1, 5),
    maxInFlight: integer(env, "MAX_IN_FLIGHT", 256, 1, 100_000),
    kvTimeoutMs: integer(env, "KV_TIMEOUT_MS", 2000, 100, 60_000),
    publicLinkBaseUrl: url(
      env,
      "PUBLIC_LINK_BASE_URL",
      "https://zoom-lfx.platform.linuxfoundation.org/meeting",
    ),
    serviceToken: optional(env, "SERVICE_TOKEN") ?? "lfx-meeting-service",
    outboxLeaseMs: integer(env, "OUTBOX_LEASE_MS", 3000, 300, 60_000),
  };
}
