/**
 * Builds the metric provider a spec's `provider:` block names. The analysis runner calls this
 * once per metric of a run; the providers hold no connection state of their own (undici's
 * global pool keeps connections), so building one is cheap.
 *
 * @module
 */

import { type MetricProvider, ProviderError } from "../../analysis/types.js";
import type { BuiltinSignal, ProviderConfig } from "../../spec/analysis.js";
import type { FlagWindows } from "../../tracking/windows.js";
import { BuiltinProvider, type MetricsSource } from "./builtin/index.js";
import { FlagEventProvider } from "./flag-event/index.js";
import { PrometheusProvider } from "./prometheus/index.js";
import { SubjectDispatch } from "./subject-dispatch.js";
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
  /**
   * Flags' per-variant windows (`src/tracking/`): required by `flagEvent`, and where `builtin`
   * reads a `flag:<key>` subject when `builtin` above builds it from elsewhere.
   */
  flags?: FlagWindows;
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
    if (deps.builtin !== undefined) {
      const services = deps.builtin(config.builtin);
      // Flag subjects are tracked on this instance, never by the fleet's routers.
      return deps.flags === undefined
        ? services
        : new SubjectDispatch(services, new BuiltinProvider(config.builtin, deps.flags));
    }
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
  if ("flagEvent" in config) {
    if (deps.flags === undefined)
      throw new ProviderError("config", "the flagEvent metric provider needs the flags' windows");
    return new FlagEventProvider(config.flagEvent, deps.flags);
  }
  throw new ProviderError(
    "config",
    `unknown metric provider ${keys.length === 0 ? "(none given)" : keys.join(", ")}; expected builtin, prometheus, web or flagEvent`,
  );
}
