// The platform's side of docs/CONTRACT.md §9 in tests: a subscriber on `lfx.index.>` and
// `lfx.events.>` as the indexer and event consumers would have, and the `fga-sync-events` stream
// that the platform (never the service) creates, read back message by message.
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";

export const FGA_STREAM = "fga-sync-events";

export interface IndexMessage {
  action: string;
  headers: Record<string, string>;
  data: Record<string, unknown> | string;
  tags: string[];
  indexing_config: Record<string, unknown>;
}

export interface EventMessage {
  resource: string;
  action: string;
  uid: string;
  revision: number;
  data: Record<string, unknown> | null;
  at: string;
}

export interface FgaMessage {
  object_type: string;
  operation: string;
  data: Record<string, unknown>;
}

export interface Received<T> {
  subject: string;
  body: T;
}

/** Collects index messages and events from the moment it is created (after `ready()`). */
export class PlatformRecorder {
  readonly index: Received<IndexMessage>[] = [];
  readonly events: Received<EventMessage>[] = [];

  constructor(private readonly nc: NatsConnection) {
    nc.subscribe("lfx.index.>", {
      callback: (err, msg) => {
        if (err === null) this.index.push({ subject: msg.subject, body: msg.json<IndexMessage>() });
      },
    });
    nc.subscribe("lfx.events.>", {
      callback: (err, msg) => {
        if (err === null)
          this.events.push({ subject: msg.subject, body: msg.json<EventMessage>() });
      },
    });
  }

  /** Resolves once the server knows the subscriptions. */
  ready(): Promise<void> {
    return this.nc.flush();
  }

  /** Index messages about `uid`, in arrival order. */
  indexOf(uid: string): Received<IndexMessage>[] {
    return this.index.filter((r) => r.body.indexing_config["object_id"] === uid);
  }

  eventsOf(uid: string): Received<EventMessage>[] {
    return this.events.filter((r) => r.body.uid === uid);
  }
}

export async function createFgaStream(nc: NatsConnection): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: FGA_STREAM, subjects: ["lfx.fga-sync.>"] });
}

/** Every message the fga-sync-events stream holds, in stream order. */
export async function fgaMessages(nc: NatsConnection): Promise<Received<FgaMessage>[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(FGA_STREAM);
  const messages: Received<FgaMessage>[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && seq > 0; seq += 1) {
    const msg = await jsm.streams.getMessage(FGA_STREAM, { seq }).catch(() => null);
    if (msg !== null) messages.push({ subject: msg.subject, body: msg.json<FgaMessage>() });
  }
  return messages;
}

/** fga-sync messages whose data names `uid` (as `uid` of the object or of the member's parent). */
export function fgaOf(messages: Received<FgaMessage>[], uid: string): Received<FgaMessage>[] {
  return messages.filter((m) => m.body.data["uid"] === uid);
}
