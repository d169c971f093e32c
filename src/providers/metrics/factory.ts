/**
 * Builds the metric provider a spec's `provider:` block names. The analysis runner calls this
 * once per metric of a run; the providers hold no connection state of their own (undici's
 * global pool keeps connections), so building one is cheap.
 *
 * @module
 */

import { type MetricProvider, ProviderError } from "../../analysis/types.js";
import type { BuiltinSignal, ProviderConfig } from "../../spec/analysis.js";
import { BuiltinProvider, type MetricsSource } from "./builtin/index.js";
import { PrometheusProvider } from "./prometheus/index.js";
import { WebProvider } from "./web/index.js";

/** What the providers may need from the running Aviary. */
export interface ProviderDeps {
  /** The router's metrics (the {@link MetricsRegistry}); required by `builtin`. */
  metrics?: MetricsSource;
  /**
   * Builds `builtin` instead, when the figures come from elsewhere than this process's router
   * (the fleet's routers, `src/fleet/metric-provider.ts`).
   */
  builtin?: (config: { signal: BuiltinSignal }) => MetricProvider;
}

/**
 * The provider for `config` (already parsed by the spec schema, so defaults are filled in).
 * Throws ProviderError("config") for an unknown provider type, a `builtin` without `deps.metrics`,
 * or settings a provider cannot use (an unreadable JSON path, say).
 */
export function createMetricProvider(
  config: ProviderConfig,
  deps: ProviderDeps = {},
): MetricProvider {
  const keys = Object.keys(config);
  if ("builtin" in config) {
    if (deps.builtin !== undefined) return deps.builtin(config.builtin);
    if (deps.metrics === undefined) {
      throw new ProviderError(
        "config",
        "the builtin metric provider needs the router's metrics registry",
      );
    }
    return new BuiltinProvider(config.builtin, deps.metrics);
  }
  if ("prometheus" in config) return new PrometheusProvider(config.prometheus);
  if ("web" in config) return new WebProvider(config.web);
  throw new ProviderError(
    "config",
    `unknown metric provider ${keys.length === 0 ? "(none given)" : keys.join(", ")}; expected builtin, prometheus or web`,
  );
}
