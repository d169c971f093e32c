import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ProviderError } from "../../../analysis/types.js";
import { FlagWindows } from "../../../tracking/windows.js";
import { ManualClock } from "../../../util/clock.js";
import { runProviderConformance } from "../conformance.js";
import { createMetricProvider } from "../factory.js";
import { FlagEventProvider } from "./index.js";

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const context = {
  service: "flag:new-checkout",
  canaryVersion: "on",
  stableVersion: "off",
  args: {},
  slowEdgesMs: [],
};

/** 10 seconds of 100 exposures a second per variant: "on" converts 5 of them, "off" 10. */
function rig() {
  const clock = new ManualClock(T0);
  const windows = new FlagWindows({ clock, windowMs: 15 * 60_000 });
  for (let s = 0; s < 10; s++) {
    clock.advance(T0 + s * 1000 + 500 - clock.now());
    windows.exposures("new-checkout", "on", 100);
    windows.exposures("new-checkout", "off", 100);
    windows.event("new-checkout", "on", "checkout-completed", 5);
    windows.event("new-checkout", "off", "checkout-completed", 10);
  }
  clock.advance(T0 + 12_000 - clock.now());
  return { clock, windows };
}

runProviderConformance(
  "flagEvent",
  async () => {
    const r = rig();
    const empty = new FlagWindows({ clock: r.clock });
    return {
      use: async (mode) =>
        new FlagEventProvider(
          { event: "checkout-completed" },
          mode === "empty" ? empty : r.windows,
        ),
      window: { from: T0, to: T0 + 10_000 },
      context,
      expectedValue: 0.05,
      close: async () => {},
    };
  },
  // Tracked counts are read in-process: nothing could be slow, down or garbled.
  { slow: "in-process", down: "in-process", garbage: "in-process" },
);

describe("flagEvent provider", () => {
  it("gives the event's count per exposure of each variant, in counts form", async () => {
    const { windows } = rig();
    const p = createMetricProvider(
      { flagEvent: { event: "checkout-completed" } },
      { flags: windows },
    );
    const obs = await p.measure(T0, T0 + 10_000, {
      ...context,
      signal: new AbortController().signal,
    });
    assert.deepEqual(
      [obs.canary.events, obs.canary.requests, obs.stable?.events, obs.stable?.requests],
      [50, 1000, 100, 1000],
    );
    assert.equal(obs.stable?.value, 0.1);
  });

  it("refuses a service subject, and a window older than what is held", async () => {
    const { windows, clock } = rig();
    const p = new FlagEventProvider({ event: "checkout-completed" }, windows);
    const signal = new AbortController().signal;
    await assert.rejects(
      p.measure(T0, T0 + 1000, { ...context, service: "shop", signal }),
      (e: unknown) =>
        e instanceof ProviderError && e.code === "config" && /not the service shop/.test(e.message),
    );
    clock.advance(60 * 60_000);
    await assert.rejects(
      p.measure(T0, T0 + 1000, { ...context, signal }),
      (e: unknown) => e instanceof ProviderError && e.code === "no-data",
    );
  });

  it("is refused by the factory without the flags' windows", () => {
    assert.throws(
      () => createMetricProvider({ flagEvent: { event: "x" } }),
      (e: unknown) => e instanceof ProviderError && e.code === "config",
    );
  });

  it("lets a builtin metric built elsewhere (the fleet's) still read flag subjects here", async () => {
    const { windows } = rig();
    const services = {
      type: "builtin",
      measure: async () => {
        throw new Error("a flag subject reached the services' provider");
      },
    };
    const p = createMetricProvider(
      { builtin: { signal: "requestRate" } },
      { builtin: () => services, flags: windows },
    );
    const obs = await p.measure(T0, T0 + 10_000, {
      ...context,
      signal: new AbortController().signal,
    });
    assert.equal(obs.canary.requests, 1000);
  });
});
