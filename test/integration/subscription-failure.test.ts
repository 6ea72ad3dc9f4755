// An endpoint whose subscription fails (here: the server denies it) can no longer serve its
// subject. The instance must not go on answering `$SRV.PING` as if it were healthy: it stops the
// whole service (main.ts then exits 1), so that an orchestrator replaces it.
import type { NatsConnection } from "@nats-io/transport-node";
import { connect } from "@nats-io/transport-node";
import { startNatsServer, type NatsServerHandle } from "../support/nats-server.js";
import { ensureBuilt, spawnService } from "../support/service-process.js";
import { startInstance, type TestInstance } from "../support/service.js";

let server: NatsServerHandle;
let instance: TestInstance | undefined;
let client: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer({
    extraConfig: `
authorization {
  users = [
    { user: "svc", password: "svc-pass", permissions: { subscribe: { deny: ["lfx.meetings.get"] } } }
    { user: "client", password: "client-pass" }
  ]
}
`,
  });
  client = await connect({ servers: server.url, user: "client", pass: "client-pass" });
});

afterAll(async () => {
  await client?.close();
  await instance?.stop();
  await server?.stop();
});

it("stops answering PING when an endpoint's subscription is refused", async () => {
  instance = await startInstance(server.url, {
    env: { NATS_USER: "svc", NATS_PASSWORD: "svc-pass" },
  });
  const failure = await instance.running.failed;
  expect(String(failure)).toMatch(/permission/i);
  await expect(
    client.request("$SRV.PING.lfx-meeting-service", "", { timeout: 1000 }),
  ).rejects.toThrow();
  expect(
    instance.logLines.some(
      (line) =>
        line["msg"] === "the service stopped: an endpoint's subscription failed" &&
        String((line["err"] as { message?: string } | undefined)?.message).includes(
          "lfx.meetings.get",
        ),
    ),
  ).toBe(true);
});

it("exits 1 as a process, for an orchestrator to replace it", async () => {
  ensureBuilt();
  const service = spawnService({
    NATS_URL: server.url,
    NATS_USER: "svc",
    NATS_PASSWORD: "svc-pass",
  });
  const exit = await service.exitWithin(20_000);
  if (exit === "timeout") await service.kill();
  expect(exit).toMatchObject({ code: 1 });
});
