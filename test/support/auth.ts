// Callers for tests with AUTH_MODE=jwt: signing keys generated in the test (RS256 and ES256),
// served as a JWKS file or from a loopback HTTP server, tokens signed with them, and a stand-in
// for the platform's access-check service (docs/PLATFORM.md §3) on the test's nats-server that
// answers from a set of granted checks, as the platform would.
import { createServer, type Server } from "node:http";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";

export const TEST_ISSUER = "https://gateway.test.lfx.dev/";
export const TEST_AUDIENCE = "lfx-meeting-service";
export const USERNAME_CLAIM = "https://sso.linuxfoundation.org/claims/username";

export interface SigningKey {
  alg: "RS256" | "ES256";
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

let keyCounter = 0;

export async function generateSigningKey(alg: "RS256" | "ES256"): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  keyCounter += 1;
  const kid = `test-${alg}-${keyCounter}`;
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
  return { alg, kid, privateKey, publicJwk };
}

export function jwksOf(keys: readonly SigningKey[]): { keys: JWK[] } {
  return { keys: keys.map((k) => k.publicJwk) };
}

/** Writes the keys' public halves as a JWKS file in a fresh temporary directory. */
export async function writeJwksFile(keys: readonly SigningKey[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "lfx-jwks-"));
  const path = join(dir, "jwks.json");
  await writeFile(path, JSON.stringify(jwksOf(keys)));
  return path;
}

export interface JwksServer {
  url: string;
  /** The keys served from now on (a rotation). */
  keys: SigningKey[];
  /** How many times the JWKS was fetched. */
  fetches: number;
  close(): Promise<void>;
}

/** A JWKS endpoint on loopback, as the gateway serves its keys. */
export async function serveJwks(keys: SigningKey[]): Promise<JwksServer> {
  const state = { keys, fetches: 0 };
  const server: Server = createServer((_req, res) => {
    state.fetches += 1;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(jwksOf(state.keys)));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    get keys() {
      return state.keys;
    },
    set keys(next) {
      state.keys = next;
    },
    get fetches() {
      return state.fetches;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface TokenOptions {
  sub: string;
  username?: string;
  email?: string;
  issuer?: string;
  audience?: string;
  /** Seconds from now; negative for an expired token. Default one hour. */
  expiresInS?: number;
  /** Another kid in the header than the key's own. */
  kid?: string;
}

export async function signToken(key: SigningKey, options: TokenOptions): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {};
  if (options.username !== undefined) claims[USERNAME_CLAIM] = options.username;
  if (options.email !== undefined) claims["email"] = options.email;
  const expiresIn = options.expiresInS ?? 3600;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, kid: options.kid ?? key.kid, typ: "JWT" })
    .setSubject(options.sub)
    .setIssuer(options.issuer ?? TEST_ISSUER)
    .setAudience(options.audience ?? TEST_AUDIENCE)
    .setIssuedAt(Math.min(now, now + expiresIn - 60))
    .setExpirationTime(now + expiresIn)
    .sign(key.privateKey);
}

/** The request header a platform caller sends. */
export function bearer(token: string): { Authorization: string } {
  return { Authorization: `Bearer ${token}` };
}

export interface AccessCheckResponder {
  /** Checks answered `true`: `meeting:<uid>#organizer@user:<principal>`. */
  granted: Set<string>;
  /** Principals for whom every check is true (fixtures are made as one). */
  superusers: Set<string>;
  /** Every request received, as its list of check lines. */
  requests: string[][];
  stop(): void;
}

/**
 * Answers `lfx.access_check.request` as the platform does (docs/PLATFORM.md §3), in reverse order.
 */
export function startAccessCheckResponder(nc: NatsConnection): AccessCheckResponder {
  const responder: AccessCheckResponder = {
    granted: new Set(),
    superusers: new Set(),
    requests: [],
    stop: () => sub.unsubscribe(),
  };
  const sub: Subscription = nc.subscribe("lfx.access_check.request", {
    callback: (err, msg) => {
      if (err !== null) return;
      const lines = msg
        .string()
        .split("\n")
        .filter((line) => line !== "");
      responder.requests.push(lines);
      const answer = lines
        .map((line) => {
          const principal = line.slice(line.lastIndexOf("@user:") + "@user:".length);
          const allowed = responder.superusers.has(principal) || responder.granted.has(line);
          return `${line}\t${allowed}`;
        })
        .reverse()
        .join("\n");
      msg.respond(answer);
    },
  });
  return responder;
}
