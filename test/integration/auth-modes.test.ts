// AUTH_MODE beyond the JWKS file of auth.test.ts: keys fetched from a JWKS URL (RS256 and ES256,
// fetched again for a kid it does not know, as after a key rotation), keys that cannot be fetched
// (503, the caller's token may be fine), AUTH_MODE=off (a warning at start, every caller is
// LOCAL_PRINCIPAL), and the settings that stop start-up, naming the variable.
import type { NatsConnection } from "@nats-io/transport-node";
import { meetingInput } from "../support/builders.js";
import {
  bearer,
  generateSigningKey,
  serveJwks,
  signToken,
  startAccessCheckResponder,
  type AccessCheckResponder,
  type JwksServer,
  type SigningKey,
} from "../support/auth.js";
import { startNatsServer, type NatsServerHandle } from "../support/nats-server.js";
import { request } from "../support/request.js";
import { ensureBuilt, killAllServiceProcesses, spawnService } from "../support/service-process.js";
import { connectClient, startInstance, type TestInstance } from "../support/service.js";
import { until } from "../support/until.js";

interface Entity {
  uid: string;
  revision: number;
  [field: string]: unknown;
}
interface ErrorBody {
  error: { code: string; retry_after_ms?: number };
}

let server: NatsServerHandle;
let client: NatsConnection;
let access: AccessCheckResponder;

beforeAll(async () => {
  ensureBuilt();
  server = await startNatsServer();
  client = await connectClient(server.url);
  access = startAccessCheckResponder(client);
}, 180_000);

afterEach(killAllServiceProcesses);

afterAll(async () => {
  access?.stop();
  await client?.close();
  await server?.stop();
});

/** Runs `work` against one instance started with `env`, stopped afterwards. */
async function withInstance(
  env: Record<string, string>,
  work: (instance: TestInstance) => Promise<void>,
): Promise<void> {
  const instance = await startInstance(server.url, { env });
  // Its subscriptions are on the server before the first request (another connection) comes.
  await instance.nc.flush();
  try {
    await work(instance);
  } finally {
    await instance.stop();
  }
}

describe("AUTH_MODE=jwt with JWKS_URL", () => {
  let rsaKey: SigningKey;
  let ecKey: SigningKey;
  let rotatedKey: SigningKey;
  let jwks: JwksServer;

  beforeAll(async () => {
    [rsaKey, ecKey, rotatedKey] = await Promise.all([
      generateSigningKey("RS256"),
      generateSigningKey("ES256"),
      generateSigningKey("ES256"),
    ]);
    jwks = await serveJwks([rsaKey, ecKey]);
  });
  afterAll(() => jwks?.close());

  test("verifies RS256 and ES256 tokens, and fetches the keys again for an unknown kid", async () => {
    await withInstance({ AUTH_MODE: "jwt", JWKS_URL: jwks.url }, async () => {
      access.superusers.add("url-caller");
      for (const key of [rsaKey, ecKey]) {
        const token = await signToken(key, { sub: "url-caller" });
        const reply = await request<Entity>(client, "lfx.meetings.create", meetingInput(), {
          headers: bearer(token),
        });
        expect({ alg: key.alg, status: reply.status }).toEqual({ alg: key.alg, status: 200 });
        expect(reply.body["created_by"]).toEqual({ principal: "url-caller" });
      }
      const fetchesBefore = jwks.fetches;
      expect(fetchesBefore).toBeGreaterThanOrEqual(1);

      // The gateway rotates: a token with the new key's kid makes the service fetch again.
      jwks.keys = [rsaKey, ecKey, rotatedKey];
      // Within the refetch cooldown it may still be refused; the caller's retry then passes.
      const rotated = await signToken(rotatedKey, { sub: "url-caller" });
      const status = await until(
        async () => {
          const reply = await request(client, "lfx.meetings.create", meetingInput(), {
            headers: bearer(rotated),
          });
          return reply.status === 200 ? reply.status : undefined;
        },
        { timeoutMs: 15_000, intervalMs: 250 },
      );
      expect(status).toBe(200);
      expect(jwks.fetches).toBe(fetchesBefore + 1);

      // A key the gateway never published stays refused.
      const stranger = await generateSigningKey("RS256");
      const forged = await request<ErrorBody>(client, "lfx.meetings.create", meetingInput(), {
        headers: bearer(await signToken(stranger, { sub: "url-caller", kid: rsaKey.kid })),
      });
      expect(forged.status).toBe(401);
    });
  });

  test("keys that cannot be fetched are a 503, not the caller's fault", async () => {
    const gone = await serveJwks([rsaKey]);
    const url = gone.url;
    await gone.close();
    await withInstance({ AUTH_MODE: "jwt", JWKS_URL: url }, async () => {
      const token = await signToken(rsaKey, { sub: "someone" });
      const reply = await request<ErrorBody>(
        client,
        "lfx.meetings.get",
        { uid: "x" },
        {
          headers: bearer(token),
        },
      );
      expect(reply.status).toBe(503);
      expect(reply.body.error.retry_after_ms).toEqual(expect.any(Number));
    });
  });
});

describe("AUTH_MODE=off", () => {
  test("warns at start; every caller is LOCAL_PRINCIPAL and no access is checked", async () => {
    await withInstance({ AUTH_MODE: "off", LOCAL_PRINCIPAL: "ada-local" }, async (instance) => {
      const warning = instance.logLines.find(
        (line) => line["level"] === "warn" && String(line["msg"]).includes("AUTH_MODE=off"),
      );
      expect(warning).toBeDefined();
      const asked = access.requests.length;
      const created = await request<Entity>(client, "lfx.meetings.create", meetingInput(), {
        headers: { Authorization: "Bearer not.even.a-token" },
      });
      expect(created.status).toBe(200);
      expect(created.body["created_by"]).toEqual({ principal: "ada-local" });
      expect(access.requests.length).toBe(asked);
    });
  });
});

describe("start-up", () => {
  test.each([
    [{ AUTH_MODE: "sometimes" }, /AUTH_MODE/],
    [{ AUTH_MODE: "jwt" }, /JWKS_URL or JWKS_FILE/],
    [{ AUTH_MODE: "jwt", JWKS_FILE: "/nonexistent/jwks.json" }, /JWKS_FILE/],
  ])(
    "%j stops it, naming the variable",
    async (env, message) => {
      const service = spawnService({ NATS_URL: server.url, ...env });
      const exit = await service.exitWithin(10_000);
      expect(exit).not.toBe("timeout");
      expect(exit === "timeout" ? undefined : exit.code).not.toBe(0);
      expect(service.stderr()).toMatch(message);
    },
    30_000,
  );
});
