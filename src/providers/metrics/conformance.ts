/**
 * The conformance suite every metric provider passes. A provider's test file calls
 * {@link runProviderConformance} with a setup that builds the provider against a small backend
 * it controls (a real MetricsRegistry, a fake Prometheus, a local HTTP server) and can make that
 * backend answer with data, with no data, slowly, not at all (connection refused), or with
 * garbage. The suite then checks the contract of `MetricProvider.measure`:
 *
 * - with data, the canary's value is a finite number;
 * - with no data, it is null — never a silent 0;
 * - a timeout, an unreachable backend and a garbage answer are ProviderErrors (codes `timeout`,
 *   `unreachable`, any code for garbage) — not another exception, and never a hang;
 * - the measurement's abort signal ends it quickly with ProviderError("aborted");
 * - the observation's from/to are the window asked for.
 *
 * Waits are bounded by a guard far above any provider's configured timeout, so a hang fails the
 * case instead of stalling the run; nothing asserts on how long a case took.
 *
 * @module
 */

import assert from "node:assert/strict";
import { after, before, describe, it as nodeIt, type TestContext } from "node:test";
import {
  type MeasureContext,
  type MetricProvider,
  type Observation,
  ProviderError,
} from "../../analysis/types.js";

/** How the backend behind a provider answers. */
export type BackendMode = "data" | "empty" | "slow" | "down" | "garbage";

/** A provider and the backend it talks to, as a test's setup builds them. */
export interface ConformanceBackend {
  /**
   * Makes the backend answer as `mode` and returns the provider to measure with: the same one
   * each time, or, for "down", one aimed at an address that refuses connections.
   * For "slow", the provider's timeout must be short (well under a second).
   */
  use(mode: BackendMode): Promise<MetricProvider>;
  /** The window to measure: in "data" mode the canary has data in it. */
  window: { from: number; to: number };
  /** The rollout measured (the suite adds the abort signal). */
  context: Omit<MeasureContext, "signal">;
  /** In "data" mode, the canary value the backend holds, if the setup knows it exactly. */
  expectedValue?: number;
  close(): Promise<void>;
}

/** Longest a case may wait for a provider before it counts as a hang. */
const HANG_GUARD_MS = 10_000;
/** How long after starting a measurement the abort case aborts it. */
const ABORT_AFTER_MS = 50;

/** Registers the conformance cases for `name` (node:test `describe`/`it`). */
export function runProviderConformance(
  name: string,
  setup: () => Promise<ConformanceBackend>,
  /** Modes the provider has no backend for, with the reason: their cases are not registered at all. */
  without: Partial<Record<BackendMode, string>> = {},
): void {
  describe(`${name} metric provider conformance`, { timeout: 4 * HANG_GUARD_MS }, () => {
    let backend: ConformanceBackend;
    before(async () => {
      backend = await setup();
    });
    after(async () => {
      await backend?.close();
    });

    const measure = (
      p: MetricProvider,
      signal = new AbortController().signal,
    ): Promise<Observation> =>
      guard(p.measure(backend.window.from, backend.window.to, { ...backend.context, signal }));

    const provider = (_t: TestContext, mode: BackendMode): Promise<MetricProvider> =>
      backend.use(mode);
    /** Registers a case only when the provider has a backend for every mode it needs. */
    const it = (title: string, modes: BackendMode[], fn: (t: TestContext) => Promise<void>) => {
      if (modes.some((m) => without[m] !== undefined)) return;
      nodeIt(title, fn);
    };

    it("gives a value when the backend has data", ["data"], async (t) => {
      const p = await provider(t, "data");
      const obs = await measure(p);
      assert.equal(typeof obs.canary.value, "number", `canary value ${String(obs.canary.value)}`);
      assert.ok(
        Number.isFinite(obs.canary.value),
        `canary value ${String(obs.canary.value)} is finite`,
      );
      if (backend.expectedValue !== undefined) {
        assert.ok(
          Math.abs((obs.canary.value as number) - backend.expectedValue) <=
            1e-9 * Math.max(1, Math.abs(backend.expectedValue)),
          `canary value ${obs.canary.value} equals ${backend.expectedValue}`,
        );
      }
    });

    it("gives null, not 0, when the backend has no data", ["empty"], async (t) => {
      const p = await provider(t, "empty");
      const obs = await measure(p);
      assert.equal(obs.canary.value, null);
      if (obs.stable !== undefined) assert.equal(obs.stable.value, null);
    });

    it("reports the window it was asked for", ["data", "empty"], async (t) => {
      for (const mode of ["data", "empty"] as const) {
        const p = await provider(t, mode);
        const obs = await measure(p);
        assert.equal(obs.from, backend.window.from, `${mode}: from`);
        assert.equal(obs.to, backend.window.to, `${mode}: to`);
      }
    });

    it("throws ProviderError(timeout) when the backend is too slow", ["slow"], async (t) => {
      const p = await provider(t, "slow");
      await assertProviderError(measure(p), "timeout");
    });

    it(
      "throws ProviderError(unreachable) when the backend refuses connections",
      ["down"],
      async (t) => {
        const p = await provider(t, "down");
        await assertProviderError(measure(p), "unreachable");
      },
    );

    it("throws ProviderError when the backend answers garbage", ["garbage"], async (t) => {
      const p = await provider(t, "garbage");
      await assertProviderError(measure(p));
    });

    it(
      "throws ProviderError(aborted) at once when the signal is already aborted",
      ["data"],
      async (t) => {
        const p = await provider(t, "data");
        const ac = new AbortController();
        ac.abort();
        await assertProviderError(measure(p, ac.signal), "aborted");
      },
    );

    it(
      "ends quickly with ProviderError(aborted) when aborted mid-measurement",
      ["slow"],
      async (t) => {
        const p = await provider(t, "slow");
        // The slow backend would end this with a timeout; only honouring the signal gives "aborted".
        const ac = new AbortController();
        const pending = measure(p, ac.signal);
        setTimeout(() => ac.abort(), ABORT_AFTER_MS);
        await assertProviderError(pending, "aborted");
      },
    );

    it("measures again normally after failures", ["data"], async (t) => {
      const p = await provider(t, "data");
      const obs = await measure(p);
      assert.ok(Number.isFinite(obs.canary.value));
    });
  });
}

/** Resolves or rejects as `p` does, or rejects if it takes longer than the hang guard. */
function guard<T>(p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new assert.AssertionError({ message: `the provider hung for ${HANG_GUARD_MS} ms` })),
      HANG_GUARD_MS,
    );
  });
  return Promise.race([p, hang]).finally(() => clearTimeout(timer));
}

async function assertProviderError(p: Promise<unknown>, code?: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    if (err instanceof assert.AssertionError) throw err;
    assert.ok(err instanceof ProviderError, `expected a ProviderError, got ${String(err)}`);
    if (code !== undefined) assert.equal(err.code, code, `code of: ${err.message}`);
    assert.ok(err.message.length > 0, "the error says what went wrong");
    return true;
  });
}
