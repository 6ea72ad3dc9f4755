import { DeliveryQueue } from "../../src/invitations/delivery.js";
import type { Mailer } from "../../src/invitations/mailer.js";
import type { InvitationMessage } from "../../src/invitations/message.js";
import { createLogger } from "../../src/logger.js";

const log = createLogger("silent");
const message: InvitationMessage = { to: "a@example.org", subject: "s", text: "t" };

/** A mail server in memory: records when each attempt started, fails as told, takes `ms`. */
function recordingMailer(options: { failFirst?: number; ms?: number } = {}) {
  const starts: number[] = [];
  let active = 0;
  let maxActive = 0;
  let attempts = 0;
  const mailer: Mailer = {
    async send() {
      attempts += 1;
      starts.push(performance.now());
      active += 1;
      maxActive = Math.max(maxActive, active);
      try {
        await new Promise((resolve) => setTimeout(resolve, options.ms ?? 0));
        if (attempts <= (options.failFirst ?? 0)) throw new Error("421 try later");
      } finally {
        active -= 1;
      }
    },
    close: () => undefined,
  };
  return { mailer, starts, maxActive: () => maxActive, attempts: () => attempts };
}

const policy = {
  ratePerSecond: 1000,
  concurrency: 3,
  maxAttempts: 4,
  retryBaseMs: 1,
  retryMaxMs: 2,
};

describe("DeliveryQueue", () => {
  test("never has more messages in delivery than its concurrency", async () => {
    const server = recordingMailer({ ms: 5 });
    const queue = new DeliveryQueue(server.mailer, policy, log);
    const sent = await Promise.all(
      Array.from({ length: 20 }, () => queue.run(() => queue.deliver(message))),
    );
    expect(sent.every(Boolean)).toBe(true);
    expect(server.attempts()).toBe(20);
    expect(server.maxActive()).toBe(3);
  });

  test("starts attempts no closer together than its rate allows", async () => {
    const server = recordingMailer();
    const queue = new DeliveryQueue(server.mailer, { ...policy, ratePerSecond: 100 }, log);
    await Promise.all(Array.from({ length: 10 }, () => queue.run(() => queue.deliver(message))));
    const gaps = server.starts.slice(1).map((start, i) => start - (server.starts[i] as number));
    // 10 ms apart at 100/s however late the timers fire (the queue spaces its own start marks;
    // the mailer sees each a few microseconds after it, hence the half millisecond).
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(9.5);
  });

  test("retries a failure with back-off, and gives up after its attempts", async () => {
    const flaky = recordingMailer({ failFirst: 2 });
    const queue = new DeliveryQueue(flaky.mailer, policy, log);
    await expect(queue.run(() => queue.deliver(message))).resolves.toBe(true);
    expect(flaky.attempts()).toBe(3);

    const down = recordingMailer({ failFirst: 100 });
    const leases: number[] = [];
    const giving = new DeliveryQueue(down.mailer, policy, log, 500);
    const delivered = await giving.run(() =>
      giving.deliver(message, {
        onProgress: (ms) => {
          leases.push(ms);
          return Promise.resolve();
        },
      }),
    );
    expect(delivered).toBe(false);
    expect(down.attempts()).toBe(4);
    // The lease is renewed before each attempt and each back-off.
    expect(leases).toEqual([500, 501, 500, 502, 500, 502, 500]);
  });
});
