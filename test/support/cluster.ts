// A JetStream cluster of throwaway nats-servers on loopback, for fault tests: each node is a
// launcher server (nats-server.ts: random client port, temporary store, kill() and restart())
// with a `cluster {}` block on a fixed free port, routed to the others. Which node leads a
// stream is read from `streams.info(...).cluster.leader`, which names the server.
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createServer } from "node:net";
import { startNatsServer, type NatsServerHandle } from "./nats-server.js";
import { until } from "./until.js";

export interface ClusterNode {
  /** `server_name`, as stream info names leaders and replicas. */
  readonly name: string;
  readonly server: NatsServerHandle;
}

export interface Cluster {
  readonly nodes: readonly ClusterNode[];
  /** Client URLs of `nodes` (default all), comma-separated, as NATS_URL takes them. */
  urls(nodes?: readonly ClusterNode[]): string;
  node(name: string): ClusterNode;
  /** The node leading `stream`'s replica group (waits for one to be elected). */
  leaderOf(stream: string, timeoutMs?: number): Promise<ClusterNode>;
  /** Asks `stream`'s leader to step down; resolves once another node leads it. */
  stepDown(stream: string): Promise<ClusterNode>;
  /** Waits until the JetStream meta group has a leader (the cluster accepts stream changes). */
  ready(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** A free TCP port on loopback (closed again; the caller binds it soon after). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => {
        if (address !== null && typeof address === "object") resolve(address.port);
        else reject(new Error("no port"));
      });
    });
  });
}

interface StreamClusterInfo {
  cluster?: { leader?: string };
}

export async function startCluster(size = 3, name = "faults"): Promise<Cluster> {
  const routePorts = await Promise.all(Array.from({ length: size }, () => freePort()));
  const servers: NatsServerHandle[] = [];
  try {
    // Started together: a node waits for its routes, not for its peers to be up.
    servers.push(
      ...(await Promise.all(
        routePorts.map((port) =>
          startNatsServer({
            extraConfig: [
              "cluster {",
              `  name: ${JSON.stringify(name)}`,
              `  listen: "127.0.0.1:${port}"`,
              `  routes: [${routePorts
                .filter((other) => other !== port)
                .map((other) => JSON.stringify(`nats-route://127.0.0.1:${other}`))
                .join(", ")}]`,
              "}",
            ].join("\n"),
          }),
        ),
      )),
    );
  } catch (err) {
    await Promise.all(servers.map((s) => s.stop()));
    throw err;
  }

  const nodes: ClusterNode[] = [];
  for (const server of servers) {
    const nc = await connect({ servers: server.url });
    const serverName = nc.info?.server_name ?? "";
    await nc.close();
    nodes.push({ name: serverName, server });
  }

  // One admin connection to every node, for stream info and step-downs.
  let admin: { nc: NatsConnection; jsm: JetStreamManager } | undefined;
  const connectAdmin = async (): Promise<{ nc: NatsConnection; jsm: JetStreamManager }> => {
    if (admin === undefined) {
      const nc = await connect({
        servers: nodes.map((n) => n.server.url),
        maxReconnectAttempts: -1,
        reconnectTimeWait: 50,
      });
      // No API check here: ready() is what waits for JetStream.
      admin = { nc, jsm: await jetstreamManager(nc, { timeout: 2000, checkAPI: false }) };
    }
    return admin;
  };
  const jsm = async (): Promise<JetStreamManager> => (await connectAdmin()).jsm;

  const cluster: Cluster = {
    nodes,
    urls: (some = nodes) => some.map((n) => n.server.url).join(","),
    node(serverName) {
      const found = nodes.find((n) => n.name === serverName);
      if (found === undefined) throw new Error(`no node named ${serverName}`);
      return found;
    },
    async leaderOf(stream, timeoutMs = 30_000) {
      const manager = await jsm();
      const leader = await until(
        async () => ((await manager.streams.info(stream)) as StreamClusterInfo).cluster?.leader,
        { timeoutMs, intervalMs: 100, message: `a leader of ${stream}` },
      );
      return cluster.node(leader);
    },
    async stepDown(stream) {
      const before = await cluster.leaderOf(stream);
      const { nc } = await connectAdmin();
      await nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${stream}`, "", { timeout: 5000 });
      return until(
        async () => {
          const now = await cluster.leaderOf(stream, 2000);
          return now.name !== before.name ? now : undefined;
        },
        { timeoutMs: 15_000, intervalMs: 100, message: `a new leader of ${stream}` },
      );
    },
    async ready(timeoutMs = 30_000) {
      const manager = await jsm();
      await until(() => manager.getAccountInfo(), {
        timeoutMs,
        intervalMs: 100,
        message: "the JetStream cluster to elect a meta leader",
      });
    },
    async stop() {
      await admin?.nc.close().catch(() => undefined);
      await Promise.all(nodes.map((n) => n.server.stop()));
    },
  };
  return cluster;
}
