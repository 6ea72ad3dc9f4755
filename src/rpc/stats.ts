// Per-endpoint statistics for `$SRV.STATS`, kept by the adapter. The framework's own counters
// see only the synchronous part of a handler and miss errors replied after an await
// (docs/MEASUREMENTS.md "The services framework does not await handlers"),
// so they are replaced by these, which cover every request from arrival to reply.

export interface EndpointCounters {
  num_requests: number;
  num_errors: number;
  /** Always present: the io.nats.micro.v1 stats schema requires it (empty until an error). */
  last_error: string;
  /** Nanoseconds. */
  processing_time: number;
  average_processing_time: number;
}

export class EndpointStats {
  private readonly counters = new Map<string, EndpointCounters>();

  private of(name: string): EndpointCounters {
    let counters = this.counters.get(name);
    if (counters === undefined) {
      counters = {
        num_requests: 0,
        num_errors: 0,
        last_error: "",
        processing_time: 0,
        average_processing_time: 0,
      };
      this.counters.set(name, counters);
    }
    return counters;
  }

  record(name: string, durationMs: number, error?: string): void {
    const counters = this.of(name);
    counters.num_requests += 1;
    counters.processing_time += Math.round(durationMs * 1e6);
    counters.average_processing_time = Math.round(counters.processing_time / counters.num_requests);
    if (error !== undefined) {
      counters.num_errors += 1;
      counters.last_error = error;
    }
  }

  snapshot(name: string): EndpointCounters {
    return { ...this.of(name) };
  }
}
