// A JetStream cluster of throwaway nats-servers on loopback, for fault tests: each node is a
// launcher server (nats-server.ts: random client port, temporary store, kill() and restart())
// with a `cluster {}` block on a fixed free port, routed to the others. Which node leads a
// stream is read from `streams.info(...).cluster.leader`, which names the server.
// The faults: kill() and restart() of a node's server, pause() (SIGSTOP) and resume(), and, with
// `routeProxies`, cuts between nodes and delays on their routes (route-proxy.ts).
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { startNatsServer, type NatsServerHandle } from "./nats-server.js";
import { freeChosenPort } from "./ports.js";
import { RouteProxy } from "./route-proxy.js";
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
  /**
   * Waits until a stream with a replica on every node can be created (the meta group has a leader
   * and every node as a peer), restarting nodes if it never comes to that (see the body).
   */
  ready(): Promise<void>;
  /** Moves the leadership of each of `streams` until `wanted(leader)` holds. */
  placeLeaders(streams: readonly string[], wanted: (leader: ClusterNode) => boolean): Promise<void>;
  /** Waits until each of `streams` has a leader and every replica is current. */
  untilCurrent(streams: readonly string[], timeoutMs?: number): Promise<void>;
  /** SIGSTOP: the process stays, answers nothing and holds its connections open. */
  pause(node: ClusterNode): void;
  /** SIGCONT after `pause()`. */
  resume(node: ClusterNode): void;
  /** Cuts `node`'s routes to every other node (needs `routeProxies`); its clients stay. */
  isolate(node: ClusterNode): Promise<void>;
  /** Ends every cut; what the cuts held is delivered. */
  heal(): void;
  /** Delays every chunk on the routes by a uniform random `minMs`..`maxMs` (undefined: none). */
  delayRoutes(delay: { minMs: number; maxMs: number } | undefined): void;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** `jetstream { sync_interval }` of every node ("always": flushed before acknowledged). */
  syncInterval?: string;
  /** Routes through a proxy per node (route-proxy.ts), for isolate() and delayRoutes(). */
  routeProxies?: boolean;
}

interface StreamClusterInfo {
  cluster?: { leader?: string; replicas?: { current: boolean }[] };
}

/** `server_name` and `server_id` of the server at `url`, as it greets a client. */
async function identify(url: string): Promise<{ name: string; id: string }> {
  const nc = await connect({ servers: url });
  const identity = { name: nc.info?.server_name ?? "", id: nc.info?.server_id ?? "" };
  await nc.close();
  return identity;
}

export async function startCluster(
  size = 3,
  name = "faults",
  options: ClusterOptions = {},
): Promise<Cluster> {
  const routePorts = await Promise.all(Array.from({ length: size }, () => freeChosenPort()));
  // With proxies, node i listens for routes on routePorts[i] and is reached (and advertises
  // itself) at proxies[i]'s port.
  const cuts = new Set<string>();
  const cutKey = (a: string, b: string) => [a, b].sort().join(" ");
  let routeDelay: { minMs: number; maxMs: number } | undefined;
  const serverIds = new Map<string, string>();
  const nodeNames: string[] = [];
  const proxies = options.routeProxies
    ? routePorts.map(
        (port, i) =>
          new RouteProxy({
            targetPort: port,
            get node() {
              return nodeNames[i] ?? "";
            },
            nodeOfServerId: (id) => serverIds.get(id),
            isCut: (a, b) => cuts.has(cutKey(a, b)),
            delayMs: () =>
              routeDelay === undefined
                ? 0
                : routeDelay.minMs + Math.random() * (routeDelay.maxMs - routeDelay.minMs),
          }),
      )
    : undefined;
  const reachPorts =
    proxies === undefined ? routePorts : await Promise.all(proxies.map((p) => p.listen()));
  const servers: NatsServerHandle[] = [];
  try {
    // Started together: a node waits for its routes, not for its peers to be up.
    servers.push(
      ...(await Promise.all(
        routePorts.map((port, i) =>
          startNatsServer({
            ...(options.syncInterval === undefined ? {} : { syncInterval: options.syncInterval }),
            extraConfig: [
              "cluster {",
              `  name: ${JSON.stringify(name)}`,
              `  listen: "127.0.0.1:${port}"`,
              ...(proxies === undefined ? [] : [`  advertise: "127.0.0.1:${reachPorts[i]}"`]),
              `  routes: [${reachPorts
                .filter((_, j) => j !== i)
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
    await Promise.all((proxies ?? []).map((p) => p.close()));
    throw err;
  }

  const nodes: ClusterNode[] = [];
  const learnIds = async () => {
    for (const node of nodes) serverIds.set((await identify(node.server.url)).id, node.name);
  };
  for (const server of servers) {
    const { name: serverName, id } = await identify(server.url);
    nodes.push({ name: serverName, server });
    nodeNames.push(serverName);
    serverIds.set(id, serverName);
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
    async placeLeaders(streams, wanted) {
      for (const stream of streams) {
        for (let attempt = 0; !wanted(await cluster.leaderOf(stream)); attempt += 1) {
          if (attempt > 20) throw new Error(`could not move the leader of ${stream}`);
          await cluster.stepDown(stream);
        }
      }
    },
    async untilCurrent(streams, timeoutMs = 60_000) {
      const manager = await jsm();
      for (const stream of streams) {
        await until(
          async () => {
            const info = ((await manager.streams.info(stream)) as StreamClusterInfo).cluster;
            const replicas = info?.replicas ?? [];
            return (
              info?.leader !== undefined &&
              replicas.length === size - 1 &&
              replicas.every((r) => r.current)
            );
          },
          { timeoutMs, intervalMs: 200, message: `every replica of ${stream} current` },
        );
      }
    },
    pause(node) {
      process.kill(node.server.pid, "SIGSTOP");
    },
    resume(node) {
      process.kill(node.server.pid, "SIGCONT");
    },
    async isolate(node) {
      if (proxies === undefined) throw new Error("isolate() needs startCluster({ routeProxies })");
      // Server ids change with every start: learnt again, so that a restarted node is known.
      await learnIds();
      for (const other of nodes) if (other !== node) cuts.add(cutKey(node.name, other.name));
    },
    heal() {
      cuts.clear();
      for (const proxy of proxies ?? []) proxy.releaseHeld();
    },
    delayRoutes(delay) {
      if (proxies === undefined)
        throw new Error("delayRoutes() needs startCluster({ routeProxies })");
      routeDelay = delay;
    },
    async ready() {
      const manager = await jsm();
      await until(() => manager.getAccountInfo(), {
        timeoutMs: 30_000,
        intervalMs: 100,
        message: "the JetStream cluster to elect a meta leader",
      });
      // nats-server 2.10.27 now and then forms its meta group of the nodes that first reached each
      // other and never adds the node it heard from before a leader was elected: cluster_size 2,
      // and every stream of `size` replicas is refused "no suitable peers for placement" for good
      // (1 start in 20-180 here, more under load; a service then never starts). A restart of the
      // node left out lets the leader add it. The client API does not say which node that is, so
      // each is restarted in turn until a probe stream can be placed.
      const placeable = async (): Promise<boolean> => {
        try {
          await until(
            async () => {
              await manager.streams.add({
                name: "CLUSTER_READY_PROBE",
                subjects: ["cluster.ready.probe"],
                num_replicas: size,
              });
              return manager.streams.delete("CLUSTER_READY_PROBE");
            },
            { timeoutMs: 15_000, intervalMs: 250, message: "a stream on every node" },
          );
          return true;
        } catch {
          return false;
        }
      };
      if (await placeable()) return;
      for (const node of nodes) {
        console.warn(
          `cluster.ready(): no stream of ${size} replicas placed; restarting ${node.name}`,
        );
        await node.server.kill();
        await node.server.restart();
        if (await placeable()) return;
      }
      throw new Error(
        `no stream of ${size} replicas could be placed, even after restarting each node`,
      );
    },
    async stop() {
      cuts.clear();
      // A paused server would ignore the SIGTERM of stop(); a dead one has no process to resume.
      for (const node of nodes) {
        try {
          cluster.resume(node);
        } catch {
          // Not running.
        }
      }
      await admin?.nc.close().catch(() => undefined);
      await Promise.all(nodes.map((n) => n.server.stop()));
      await Promise.all((proxies ?? []).map((p) => p.close()));
    },
  };
  return cluster;
}
