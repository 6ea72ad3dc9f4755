// Which failed writes may still have been stored (docs/MEASUREMENTS.md "A timeout does not
// mean not written"): only those may not be undone.
import { jserrors } from "@nats-io/jetstream/internal";
import { NoRespondersError, TimeoutError } from "@nats-io/nats-core";
import { isOutcomeUnknown, translateStoreError } from "../../src/store/kv/kv-repository.js";

const translated = (err: unknown) => translateStoreError(err, "meetings", "k");

it("treats a timed-out write as possibly stored", () => {
  expect(isOutcomeUnknown(translated(new TimeoutError()))).toBe(true);
});

it.each([
  ["no responders", new NoRespondersError("$KV.meetings.k")],
  ["no JetStream leader", new jserrors.JetStreamNotEnabled("jetstream is not enabled")],
])("treats %s as not stored", (_label, err) => {
  const appError = translated(err);
  expect(appError.code).toBe("unavailable");
  expect(isOutcomeUnknown(appError)).toBe(false);
});

it("is false for anything but unavailable", () => {
  expect(isOutcomeUnknown(new Error("boom"))).toBe(false);
  expect(isOutcomeUnknown(translated(new Error("boom")))).toBe(false);
});
