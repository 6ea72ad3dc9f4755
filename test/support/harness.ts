// The set-up most integration files share: one nats-server for the file, service instances on it
// and a client connection, started before the file's tests and stopped after them.
import type { NatsConnection } from "@nats-io/transport-node";
import { startNatsServer, type NatsServerHandle } from "./nats-server.js";
import { connectClient, startInstance, type TestInstance } from "./service.js";

export interface Harness {
  server: NatsServerHandle;
  instances: TestInstance[];
  client: NatsConnection;
}

/**
 * Registers beforeAll/afterAll; the returned object is filled in before the first test. `env`
 * is added to every instance's environment (e.g. `PLATFORM_LOOKUPS: "on"`).
 */
export function useServiceHarness(instanceCount = 1, env?: Record<string, string>): Harness {
  const harness = {} as Harness;
  beforeAll(async () => {
    harness.server = await startNatsServer();
    harness.instances = [];
    for (let i = 0; i < instanceCount; i += 1) {
      harness.instances.push(
        await startInstance(harness.server.url, env === undefined ? {} : { env }),
      );
    }
    harness.client = await connectClient(harness.server.url);
  });
  afterAll(async () => {
    await harness.client?.close();
    for (const instance of harness.instances ?? []) await instance.stop();
    await harness.server?.stop();
  });
  return harness;
}
