// The micro services discovery API (`$SRV.PING|INFO|STATS`), as `nats micro` calls it: plain
// requests whose JSON replies follow the io.nats.micro.v1 schemas (test/contract/micro-schemas/).
import type { NatsConnection } from "@nats-io/transport-node";

export const SERVICE = "lfx-meeting-service";

export interface EndpointInfo {
  name: string;
  subject: string;
  queue_group?: string;
  metadata?: Record<string, string> | null;
}

export interface InfoResponse {
  type: string;
  name: string;
  id: string;
  version: string;
  description: string;
  metadata?: Record<string, string> | null;
  endpoints: EndpointInfo[];
}

export interface EndpointStats {
  name: string;
  subject: string;
  queue_group?: string;
  num_requests: number;
  num_errors: number;
  last_error: string;
  processing_time: number;
  average_processing_time: number;
}

export interface StatsResponse {
  type: string;
  name: string;
  id: string;
  version: string;
  started: string;
  endpoints: EndpointStats[];
}

export interface PingResponse {
  type: string;
  name: string;
  id: string;
  version: string;
}

export type Verb = "PING" | "INFO" | "STATS";

/**
 * One discovery reply, parsed: `$SRV.<verb>.lfx-meeting-service`, or `.<id>` for one instance.
 * With several instances running, the unaddressed form gets the first answer only.
 */
export async function discover<T>(
  nc: NatsConnection,
  verb: Verb,
  id?: string,
  timeoutMs = 2000,
): Promise<T> {
  const subject = `$SRV.${verb}.${SERVICE}${id === undefined ? "" : `.${id}`}`;
  const msg = await nc.request(subject, "", { timeout: timeoutMs });
  return JSON.parse(msg.string()) as T;
}

/** The stats of one endpoint of one instance (its name is the subject minus `lfx.`, dots as dashes). */
export async function endpointStats(
  nc: NatsConnection,
  id: string,
  endpointName: string,
): Promise<EndpointStats> {
  const stats = await discover<StatsResponse>(nc, "STATS", id);
  const found = stats.endpoints.find((e) => e.name === endpointName);
  if (found === undefined) throw new Error(`no endpoint ${endpointName} in $SRV.STATS of ${id}`);
  return found;
}
