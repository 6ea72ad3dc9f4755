// The network between the nodes of a test cluster, in user space: every route connection to a node
// goes through that node's proxy (the node advertises the proxy's port to its peers, so routes
// learnt by gossip go through it too), which can cut node pairs apart and delay what it forwards.
// Why not the kernel: the machines this runs on have no netem qdisc (CONFIG_NET_SCH_NETEM is not
// set, so `tc ... netem delay` fails) and no iptables, and a proxy needs no root. Client
// connections do not go through it: a client reaches every node, on either side of a cut.
//
// A cut behaves like a DROP rule on both directions of a link: nothing passes and nothing is
// refused; bytes sent meanwhile are held and delivered once the cut heals, as TCP retransmits
// them. Closes are held the same way. Delays keep each direction's byte order (a TCP stream).
import { createServer, connect as tcpConnect, type Server, type Socket } from "node:net";

export interface RouteProxyOptions {
  /** The node's own route port, where the proxy forwards to. */
  targetPort: number;
  /** The node this proxy leads to (its `server_name`). */
  node: string;
  /** The `server_name` of a server id (the id is what a route's CONNECT names), when known. */
  nodeOfServerId: (serverId: string) => string | undefined;
  /** Whether `a` and `b` are cut apart now. */
  isCut: (a: string, b: string) => boolean;
  /** The delay to apply to the next chunk, in ms (0: none). */
  delayMs: () => number;
}

/** One direction of a proxied connection: ordered delivery after the delay, held while cut. */
class Direction {
  private lastDeliveryAt = 0;
  private readonly held: (Buffer | "end")[] = [];

  constructor(
    private readonly to: Socket,
    private readonly cut: () => boolean,
    private readonly delayMs: () => number,
  ) {}

  send(chunk: Buffer | "end"): void {
    if (this.cut() || this.held.length > 0) {
      this.held.push(chunk);
      return;
    }
    const deliverAt = Math.max(this.lastDeliveryAt, Date.now() + this.delayMs());
    this.lastDeliveryAt = deliverAt;
    const deliver = () => {
      if (this.to.destroyed) return;
      if (chunk === "end") this.to.end();
      else this.to.write(chunk);
    };
    if (deliverAt <= Date.now()) deliver();
    else setTimeout(deliver, deliverAt - Date.now());
  }

  /** Sends what was held while cut (called once the cut healed). */
  release(): void {
    if (this.cut()) return;
    for (const chunk of this.held.splice(0)) this.send(chunk);
  }
}

const CONNECT_LINE = /^CONNECT (\{.*\})\r?\n/;

export class RouteProxy {
  private readonly server: Server;
  private readonly releases = new Set<() => void>();
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly options: RouteProxyOptions) {
    this.server = createServer((client) => this.accept(client));
  }

  /** Listens on `port` (0: any free one) on loopback; resolves with the port. */
  listen(port = 0): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, "127.0.0.1", () => {
        const address = this.server.address();
        this.port = typeof address === "object" && address !== null ? address.port : 0;
        resolve(this.port);
      });
    });
  }

  /** Delivers what cuts held, where the cut is gone (call after healing). */
  releaseHeld(): void {
    for (const release of this.releases) release();
  }

  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    const upstream = tcpConnect({ host: "127.0.0.1", port: this.options.targetPort });
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.setNoDelay(true);
      socket.on("error", () => socket.destroy());
      socket.on("close", () => this.sockets.delete(socket));
    }
    // The connecting server names itself (its id) in its CONNECT line; until then it is unknown,
    // and the node's INFO, the only thing sent before, passes. The id's node is looked up at each
    // chunk: a link made while the cluster started is named before the cluster knows the ids.
    let peerId: string | undefined;
    let preamble = Buffer.alloc(0);
    const cut = () => {
      const peer = peerId === undefined ? undefined : this.options.nodeOfServerId(peerId);
      return peer !== undefined && this.options.isCut(this.options.node, peer);
    };
    const toNode = new Direction(upstream, cut, this.options.delayMs);
    const toPeer = new Direction(client, cut, this.options.delayMs);
    // A side that closed while cut closes the other once the cut heals, after what was held.
    const closeAfterCut: Socket[] = [];
    const release = () => {
      toNode.release();
      toPeer.release();
      if (!cut()) for (const socket of closeAfterCut.splice(0)) socket.destroy();
    };
    this.releases.add(release);

    client.on("data", (chunk: Buffer) => {
      if (peerId !== undefined) return toNode.send(chunk);
      preamble = Buffer.concat([preamble, chunk]);
      const match = CONNECT_LINE.exec(preamble.toString("latin1"));
      if (match === null) {
        if (preamble.length > 64 * 1024) client.destroy();
        return;
      }
      peerId = (JSON.parse(match[1]!) as { name?: string }).name ?? "";
      toNode.send(preamble);
    });
    upstream.on("data", (chunk: Buffer) => toPeer.send(chunk));
    client.on("end", () => toNode.send("end"));
    upstream.on("end", () => toPeer.send("end"));
    const closeOther = (other: Socket) => {
      if (cut()) closeAfterCut.push(other);
      else other.destroy();
      if (client.destroyed && upstream.destroyed) this.releases.delete(release);
    };
    client.on("close", () => closeOther(upstream));
    upstream.on("close", () => closeOther(client));
  }
}
