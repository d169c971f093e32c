/**
 * The metrics the `builtin` provider reads on an instance that tracks flags: a `flag:<key>`
 * subject's windows from the tracking endpoint's counts, every service's from the router's
 * registry, so a template measures a flag exactly as it measures a service.
 *
 * @module
 */

import type { WindowQuery, WindowSummary } from "../dataplane/metrics/types.js";
import { isFlagSubject } from "../flags/subjects.js";
import type { MetricsSource } from "../providers/metrics/builtin/index.js";
import type { FlagWindows } from "./windows.js";

export function flagAwareSource(services: MetricsSource, flags: FlagWindows): MetricsSource {
  return {
    query: (q: WindowQuery): WindowSummary =>
      isFlagSubject(q.service) ? flags.query(q) : services.query(q),
  };
}
