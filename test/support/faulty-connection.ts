// Fault injection for a service's NATS connection, without a seam in production code: the
// JetStream client sends every KV write as `nc.request()` on the connection it was given, so a
// proxy around that connection can make chosen writes fail the way a lost ack does
// (docs/MEASUREMENTS.md "A timeout does not mean not written"):
// - "stored": the write reaches the server and is stored, then the caller gets a TimeoutError;
// - "lost": the write never reaches the server, and the caller gets a TimeoutError;
// - "refused": the write never reaches the server, and the caller is told so (no responders, as
//   while a stream has no leader): a definite failure.
import { NoRespondersError, TimeoutError, type NatsConnection } from "@nats-io/transport-node";

export type FaultMode = "stored" | "lost" | "refused";

interface Fault {
  matches: (subject: string) => boolean;
  mode: FaultMode;
  remaining: number;
  /** Subjects this fault has hit. */
  hits: string[];
}

export interface FaultyConnection {
  /** The connection to hand to the service. */
  readonly nc: NatsConnection;
  /**
   * Makes the next `times` requests whose subject `matches` fail as `mode`; resolves the subjects
   * hit, once they are all hit (see `hits`).
   */
  failNext(matches: (subject: string) => boolean, mode: FaultMode, times?: number): Fault;
  clear(): void;
}

export function faultyConnection(target: NatsConnection): FaultyConnection {
  let faults: Fault[] = [];
  const request: NatsConnection["request"] = async (subject, payload, options) => {
    const fault = faults.find((f) => f.remaining > 0 && f.matches(subject));
    if (fault === undefined) return target.request(subject, payload, options);
    fault.remaining -= 1;
    fault.hits.push(subject);
    if (fault.mode === "refused") throw new NoRespondersError(subject);
    if (fault.mode === "stored") await target.request(subject, payload, options);
    throw new TimeoutError();
  };
  const nc = new Proxy(target, {
    get(object, property) {
      if (property === "request") return request;
      const value: unknown = Reflect.get(object, property, object);
      // Methods run on the real connection (it keeps private state).
      return typeof value === "function" ? (value as () => unknown).bind(object) : value;
    },
  });
  return {
    nc,
    failNext(matches, mode, times = 1) {
      const fault: Fault = { matches, mode, remaining: times, hits: [] };
      faults.push(fault);
      return fault;
    },
    clear() {
      faults = [];
    },
  };
}

/** A matcher for KV writes (`$KV.<bucket>.<key>`) to `bucket` whose key satisfies `key`. */
export function kvWrite(bucket: string, key: (key: string) => boolean = () => true) {
  const prefix = `$KV.${bucket}.`;
  return (subject: string) => subject.startsWith(prefix) && key(subject.slice(prefix.length));
}
