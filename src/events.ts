// Change events (CONTRACT §7): after every committed change, `lfx.events.<resource>.<action>`.
// Published on core NATS after the KV write is acknowledged; an event is a notification of a
// committed fact, so a failure to publish is logged and never undoes or fails the request.
import type { NatsConnection } from "@nats-io/nats-core";
import type { Logger } from "./logger.js";

export type EventAction = "created" | "updated" | "deleted";

export interface ChangeEvent {
  resource: string;
  action: EventAction;
  uid: string;
  revision: number;
  data: object | null;
  at: string;
}

export interface EventPublisher {
  publish(
    resource: string,
    action: EventAction,
    uid: string,
    revision: number,
    data: object | null,
  ): void;
}

export function natsEventPublisher(
  nc: NatsConnection,
  log: Logger,
  now: () => Date = () => new Date(),
): EventPublisher {
  return {
    publish(resource, action, uid, revision, data) {
      const event: ChangeEvent = { resource, action, uid, revision, data, at: now().toISOString() };
      try {
        nc.publish(`lfx.events.${resource}.${action}`, JSON.stringify(event));
      } catch (err) {
        log.error({ err, resource, action, uid, revision }, "event publish failed");
      }
    },
  };
}
