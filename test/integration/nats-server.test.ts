// The test launcher itself: a private server with JetStream whose store survives a crash.

import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { startNatsServer, type NatsServerHandle } from "../support/nats-server.js";
import { until } from "../support/until.js";

let server: NatsServerHandle;

beforeAll(async () => {
  server = await startNatsServer();
});

afterAll(async () => {
  await server.stop();
});

test("starts on a random port, never the default one", () => {
  expect(server.port).toBeGreaterThan(0);
  expect(server.port).not.toBe(4222);
  expect(server.url).toBe(`nats://127.0.0.1:${server.port}`);
});

test("a KV value survives a kill -9 and a restart on the same port", async () => {
  const nc = await connect({ servers: server.url });
  let revision: number;
  try {
    const kv = await new Kvm(nc).create("t");
    revision = await kv.put("k", "v1");
    expect((await kv.get("k"))?.string()).toBe("v1");
  } finally {
    await nc.close();
  }

  const firstPid = server.pid;
  const port = server.port;
  await server.kill();
  await server.restart();
  expect(server.port).toBe(port);
  expect(server.pid).not.toBe(firstPid);

  const again = await connect({ servers: server.url });
  try {
    const kv = await new Kvm(again).open("t");
    const entry = await until(() => kv.get("k"), { message: "the stored value after restart" });
    expect(entry.string()).toBe("v1");
    expect(entry.revision).toBe(revision);
  } finally {
    await again.close();
  }
});
