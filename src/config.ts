// Every environment variable the service reads (docs/CONTRACT.md §1), parsed and defaulted here
// once. A bad value stops start-up with a message that names the variable.
import { readFileSync } from "node:fs";
import { credsAuthenticator, type ConnectionOptions } from "@nats-io/transport-node";

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
  /**
   * Requests one instance works on at once; more wait their turn (the framework has no limit of
   * its own: docs/MEASUREMENTS.md "The services framework does not await handlers").
   */
  maxInFlight: number;
  /** Deadline of each JetStream/KV call, shorter than a caller's usual 5 s request timeout. */
  kvTimeoutMs: number;
  /**
   * A request is answered by then at the latest (503 if its work is not done): room for two KV
   * calls in a row. No write of a request can still be in flight after it (check-consistency).
   */
  requestDeadlineMs: number;
  /** A meeting's `public_link` is this followed by `/{uid}`. */
  publicLinkBaseUrl: string;
  /**
   * PLATFORM_LOOKUPS: whether projects, committees and usernames are asked of the platform over
   * NATS (docs/CONTRACT.md §10), and committee membership and project settings are followed.
   */
  platformLookups: boolean;
  /** How long one request to a platform service (project, committee, auth) may take. */
  platformTimeoutMs: number;
  /** Who callers are and what they may do (docs/CONTRACT.md §8). */
  auth: AuthConfig;
  /**
   * The service's own bearer token, for messages sent on nobody's behalf (docs/PLATFORM.md §1); the
   * default is a placeholder that only local runs accept.
   */
  serviceToken: string;
  /**
   * How long an instance's hold on an outbox feed lasts unrenewed (src/outbox/feed.ts): after an
   * instance dies, another sends its feeds' messages after about this long.
   */
  outboxLeaseMs: number;
  /** Calendar invitations (docs/CONTRACT.md §11). */
  email: EmailConfig;
}

export interface EmailConfig {
  /**
   * INVITATIONS: whether committed changes send invitations (docs/CONTRACT.md §11; `off` for a
   * deployment that sends none, and for tests that drive the consumer themselves).
   * `lfx.registrants.resend` sends either way.
   */
  invitations: boolean;
  /** `smtp://` or `smtps://[user:pass@]host:port`; undefined: messages go to `dir` as .eml files. */
  smtpUrl: string | undefined;
  /** The From of every invitation (RFC 5322 mailbox, e.g. `LFX Meetings <meetings@example.org>`). */
  from: string;
  /** Where .eml files are written when there is no SMTP_URL. */
  dir: string;
  /** Delivery attempts started per second by one instance, over all meetings. */
  ratePerSecond: number;
  /** Messages one instance has in delivery at once (including those waiting to retry). */
  concurrency: number;
  /** Attempts per message before it counts as failed. */
  maxAttempts: number;
  /** Back-off before the second attempt; it doubles each time up to `retryMaxMs`. */
  retryBaseMs: number;
  retryMaxMs: number;
}

/** Where the keys that sign callers' tokens come from. */
export type JwksSource = { kind: "url"; url: string } | { kind: "file"; path: string };

export type AuthConfig =
  | {
      mode: "jwt";
      /** Required to serve (the service refuses to start without); operator tools need none. */
      jwks: JwksSource | undefined;
      /** Required `iss`, when set. */
      issuer: string | undefined;
      /** Required `aud`, when set. */
      audience: string | undefined;
    }
  | {
      /** No checks: every caller is `localPrincipal` (local runs and tests only). */
      mode: "off";
      localPrincipal: string;
    };

export const AUTH_MODES = ["jwt", "off"] as const;

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

function onOff(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  if (raw === "on") return true;
  if (raw === "off") return false;
  throw new ConfigError(`${name} must be on or off, got ${JSON.stringify(raw)}`);
}

function smtpUrl(env: NodeJS.ProcessEnv): string | undefined {
  const raw = optional(env, "SMTP_URL");
  if (raw === undefined) return undefined;
  if (!URL.canParse(raw) || !/^smtps?:\/\/[^/]/.test(raw)) {
    // The value may hold a password: it is not echoed.
    throw new ConfigError("SMTP_URL must be smtp://[user:pass@]host:port or smtps://...");
  }
  return raw;
}

function emailFrom(env: NodeJS.ProcessEnv): string {
  const raw = optional(env, "EMAIL_FROM") ?? "LFX Meetings <meetings-noreply@localhost>";
  // An address or `Name <address>`: mail from anything else would be refused on every send.
  if (!/^[^<>@\s]+@[^<>@\s]+$|^[^<>]*<[^<>@\s]+@[^<>@\s]+>$/.test(raw.trim())) {
    throw new ConfigError(
      `EMAIL_FROM must be an address or "Name <address>", got ${JSON.stringify(raw)}`,
    );
  }
  return raw.trim();
}

function optional(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === "" ? undefined : value;
}

function authConfig(env: NodeJS.ProcessEnv): AuthConfig {
  const mode = optional(env, "AUTH_MODE") ?? "jwt";
  if (mode === "off") {
    return { mode, localPrincipal: optional(env, "LOCAL_PRINCIPAL") ?? "local-dev" };
  }
  if (mode !== "jwt") {
    throw new ConfigError(
      `AUTH_MODE must be one of ${AUTH_MODES.join(", ")}, got ${JSON.stringify(mode)}`,
    );
  }
  const jwksUrl = optional(env, "JWKS_URL");
  const jwksFile = optional(env, "JWKS_FILE");
  if (jwksUrl !== undefined && jwksFile !== undefined) {
    throw new ConfigError("JWKS_URL and JWKS_FILE are exclusive: set one");
  }
  let jwks: JwksSource | undefined;
  if (jwksUrl !== undefined) {
    if (!URL.canParse(jwksUrl) || !/^https?:/.test(jwksUrl)) {
      throw new ConfigError(`JWKS_URL must be an http(s) URL, got ${JSON.stringify(jwksUrl)}`);
    }
    jwks = { kind: "url", url: jwksUrl };
  } else if (jwksFile !== undefined) {
    jwks = { kind: "file", path: jwksFile };
  } else {
    // Checked when the service starts (auth/tokens.ts), not here: operator tools read the same
    // configuration and verify no tokens.
    jwks = undefined;
  }
  return {
    mode,
    jwks,
    issuer: optional(env, "JWT_ISSUER"),
    audience: optional(env, "JWT_AUDIENCE"),
  };
}

/**
 * The keys tokens are verified with, which serving with AUTH_MODE=jwt requires (operator tools,
 * which read the same configuration, do not): checked by main.ts before it connects, so a
 * service without them stops at once.
 */
export function requireJwksSource(auth: AuthConfig): JwksSource | undefined {
  if (auth.mode === "off") return undefined;
  if (auth.jwks === undefined) {
    throw new ConfigError(
      "AUTH_MODE=jwt needs JWKS_URL or JWKS_FILE (the keys that sign callers' tokens)",
    );
  }
  return auth.jwks;
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

  const kvTimeoutMs = integer(env, "KV_TIMEOUT_MS", 2000, 100, 60_000);
  return {
    natsServers,
    auth: authConfig(env),
    serviceToken: optional(env, "SERVICE_TOKEN") ?? "lfx-meeting-service",
    natsUserPassword: user !== undefined && pass !== undefined ? { user, pass } : undefined,
    natsCreds: optional(env, "NATS_CREDS"),
    natsInboxPrefix,
    logLevel,
    kvReplicas: integer(env, "KV_REPLICAS", 1, 1, 5),
    maxInFlight: integer(env, "MAX_IN_FLIGHT", 256, 1, 100_000),
    kvTimeoutMs,
    requestDeadlineMs: 2 * kvTimeoutMs + 500,
    publicLinkBaseUrl: url(
      env,
      "PUBLIC_LINK_BASE_URL",
      "https://zoom-lfx.platform.linuxfoundation.org/meeting",
    ),
    platformLookups: onOff(env, "PLATFORM_LOOKUPS", true),
    platformTimeoutMs: integer(env, "PLATFORM_TIMEOUT_MS", 1500, 50, 60_000),
    outboxLeaseMs: integer(env, "OUTBOX_LEASE_MS", 3000, 300, 60_000),
    email: {
      invitations: onOff(env, "INVITATIONS", true),
      smtpUrl: smtpUrl(env),
      from: emailFrom(env),
      dir: optional(env, "EMAIL_DIR") ?? "./data/outbox",
      ratePerSecond: integer(env, "EMAIL_RATE_PER_SECOND", 50, 1, 100_000),
      concurrency: integer(env, "EMAIL_CONCURRENCY", 16, 1, 10_000),
      maxAttempts: integer(env, "EMAIL_MAX_ATTEMPTS", 8, 1, 100),
      retryBaseMs: integer(env, "EMAIL_RETRY_BASE_MS", 1000, 1, 3_600_000),
      retryMaxMs: integer(env, "EMAIL_RETRY_MAX_MS", 60_000, 1, 86_400_000),
    },
  };
}

/**
 * Who this process is on NATS, from the configuration: user and password or a creds file, and
 * the private inbox prefix its user may subscribe to (docs/SECURITY.md). The service and its
 * operator tools connect alike, so a tool works wherever the service's credentials do.
 */
export function natsIdentity(
  config: Pick<Config, "natsUserPassword" | "natsCreds" | "natsInboxPrefix">,
): Pick<ConnectionOptions, "user" | "pass" | "inboxPrefix" | "authenticator"> {
  return {
    ...config.natsUserPassword,
    ...(config.natsInboxPrefix === undefined ? {} : { inboxPrefix: config.natsInboxPrefix }),
    ...(config.natsCreds === undefined
      ? {}
      : { authenticator: credsAuthenticator(readFileSync(config.natsCreds)) }),
  };
}
