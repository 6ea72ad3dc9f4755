// Who a request comes from (docs/CONTRACT.md §8, docs/PLATFORM.md §6): the `Authorization: Bearer
// <jwt>` header verified against the platform gateway's keys with jose. Any failure is one 401
// whose message says nothing about what was wrong; the reason is kept as the error's cause for the
// log.
import { readFile } from "node:fs/promises";
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors as joseErrors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
} from "jose";
import type { AuthConfig, JwksSource } from "../config.js";
import { ConfigError, requireJwksSource } from "../config.js";
import type { AppError } from "../errors.js";
import { unauthenticated, unavailable } from "../errors.js";
import type { Caller } from "../request-scope.js";

/** The platform's username claim (docs/PLATFORM.md §6), before the plain `username`. */
export const USERNAME_CLAIM = "https://sso.linuxfoundation.org/claims/username";

/** Seconds of clock difference between the gateway and this service tolerated on exp/nbf/iat. */
const CLOCK_TOLERANCE_S = 30;

/**
 * Far above any real token (a few KiB), far below a max payload: a longer header is refused before
 * any parsing, so a huge one costs nothing.
 */
const MAX_AUTHORIZATION_LENGTH = 16 * 1024;

/** How long a verified token is taken as verified (at most until it expires), and how many. */
const VERIFIED_TTL_MS = 60_000;
const MAX_VERIFIED = 10_000;

/** Asymmetric algorithms only: a shared-secret (HS*) or unsigned token is never accepted. */
const ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
];

const BEARER = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/i;

export interface Authenticator {
  /** The caller of a request from its `Authorization` header; throws AppError (401 or 503). */
  authenticate(authorization: string | undefined): Promise<Caller>;
}

/**
 * AUTH_MODE=off: everyone is the local principal, and no header is verified. A header that came is
 * still passed on as it came to the platform messages of what the request changes (docs/PLATFORM.md
 * §1: the caller's token, when the request carried one); the indexer judges it.
 */
export function localAuthenticator(principal: string): Authenticator {
  const caller: Caller = { principal };
  return {
    authenticate: (authorization) =>
      Promise.resolve(
        authorization === undefined || authorization === "" ? caller : { principal, authorization },
      ),
  };
}

/** AUTH_MODE=jwt. A JWKS file is read (and checked) here, at start, so a bad one stops start. */
export async function jwtAuthenticator(
  config: Extract<AuthConfig, { mode: "jwt" }>,
): Promise<Authenticator> {
  const source = requireJwksSource(config);
  if (source === undefined) throw new Error("jwtAuthenticator with AUTH_MODE=off");
  const keys = await keySet(source);
  const options = {
    algorithms: ALGORITHMS,
    clockTolerance: CLOCK_TOLERANCE_S,
    ...(config.issuer === undefined ? {} : { issuer: config.issuer }),
    ...(config.audience === undefined ? {} : { audience: config.audience }),
  };
  const verified = new Map<string, { caller: Caller; until: number }>();
  return {
    async authenticate(authorization) {
      if (authorization === undefined || authorization === "") {
        throw unauthenticated("no Authorization header");
      }
      if (authorization.length > MAX_AUTHORIZATION_LENGTH) {
        throw unauthenticated(`Authorization header of ${authorization.length} characters`);
      }
      const known = verified.get(authorization);
      if (known !== undefined && known.until > Date.now()) return known.caller;
      const token = BEARER.exec(authorization)?.[1];
      if (token === undefined) throw unauthenticated("Authorization is not a Bearer JWT");
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, keys, options));
      } catch (err) {
        throw verificationFailure(err);
      }
      const caller = callerOf(payload, authorization);
      remember(verified, authorization, caller, payload.exp);
      return caller;
    },
  };
}

/**
 * Keeps a verified token for a while (never past its `exp`): a caller sends many requests with
 * one token, and a signature check is most of what verification costs.
 */
function remember(
  verified: Map<string, { caller: Caller; until: number }>,
  authorization: string,
  caller: Caller,
  exp: number | undefined,
): void {
  const now = Date.now();
  const until = Math.min(now + VERIFIED_TTL_MS, exp === undefined ? Infinity : exp * 1000);
  verified.delete(authorization);
  verified.set(authorization, { caller, until });
  if (verified.size > MAX_VERIFIED) {
    const oldest = verified.keys().next();
    if (oldest.done !== true) verified.delete(oldest.value);
  }
}

async function keySet(source: JwksSource): Promise<JWTVerifyGetKey> {
  if (source.kind === "url") {
    // jose caches the set, fetches it again on a token whose kid it does not know (at most once
    // per cooldown, so unknown kids cannot make it hammer the gateway; jose's default of 30 s
    // would refuse a rotated key's tokens for that long) and after cacheMaxAge.
    return createRemoteJWKSet(new URL(source.url), {
      timeoutDuration: 5000,
      cooldownDuration: 5000,
      cacheMaxAge: 10 * 60_000,
    });
  }
  let jwks: JSONWebKeySet;
  try {
    jwks = JSON.parse(await readFile(source.path, "utf8")) as JSONWebKeySet;
  } catch (err) {
    throw new ConfigError(
      `JWKS_FILE ${JSON.stringify(source.path)} is not a readable JSON file: ${String(err)}`,
    );
  }
  if (!Array.isArray(jwks.keys)) {
    throw new ConfigError(`JWKS_FILE ${JSON.stringify(source.path)} has no "keys" array`);
  }
  return createLocalJWKSet(jwks);
}

/**
 * A bad token is a 401. Keys that cannot be fetched are the platform's failure, not the caller's,
 * so a 503 the caller may retry: jose reports every problem of a token as a JOSEError, and what
 * is not one (fetch's own errors) or is a JWKS timeout or bad JWKS comes from fetching the keys.
 */
function verificationFailure(err: unknown): AppError {
  if (
    err instanceof joseErrors.JWKSTimeout ||
    err instanceof joseErrors.JWKSInvalid ||
    !(err instanceof joseErrors.JOSEError)
  ) {
    return unavailable("the token signing keys could not be fetched; retry", err);
  }
  return unauthenticated(`${err.code}: ${err.message}`);
}

function callerOf(payload: JWTPayload, authorization: string): Caller {
  const { sub } = payload;
  if (typeof sub !== "string" || sub === "") throw unauthenticated("token without sub");
  // The principal goes into the line-based access-check protocol (docs/PLATFORM.md §3): a line
  // break or tab in it would forge or hide a check.
  if (/[\s\p{Cc}]/u.test(sub)) throw unauthenticated("sub with whitespace or control characters");
  const username = stringClaim(payload, USERNAME_CLAIM) ?? stringClaim(payload, "username");
  const email = stringClaim(payload, "email");
  return {
    principal: sub,
    ...(username === undefined ? {} : { username }),
    ...(email === undefined ? {} : { email }),
    authorization,
  };
}

function stringClaim(payload: JWTPayload, name: string): string | undefined {
  const value = payload[name];
  return typeof value === "string" && value !== "" ? value : undefined;
}
