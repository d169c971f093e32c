/**
 * The per-version metrics the embedded proxy records into and the analysis reads from: a window
 * of per-second buckets for each (service, version, role), and their Prometheus exposition.
 *
 * @module
 */

import { Registry } from "prom-client";
import { type Clock, systemClock } from "../../util/clock.js";
import { registerRequestMetrics } from "./exposition.js";
import { SeriesRecorder } from "./series.js";
import type { Recorder, Role, WindowQuery, WindowSummary } from "./types.js";
import { summarizeWindow } from "./window.js";

export type {
  FailureKind,
  Recorder,
  Role,
  WindowQuery,
  WindowSummary,
} from "./types.js";

const DEFAULT_WINDOW_MS = 15 * 60 * 1000;
const ROLES: ReadonlySet<string> = new Set<Role>(["stable", "canary", "mirror"]);
// Mirrored copies never reach a user, so they stay out of a version's own figures unless asked.
const LIVE_ROLES: readonly Role[] = ["stable", "canary"];

interface VersionEntry {
  readonly roles: Map<Role, SeriesRecorder>;
}

/** Options of a {@link MetricsRegistry}. */
export interface MetricsRegistryOptions {
  /** How far back queries can reach, in ms (default 15 min, at least 1 s). */
  windowMs?: number;
  clock?: Clock;
}

/** Every version's recorders, their recent windows and their Prometheus exposition. */
export class MetricsRegistry {
  /** Content type of {@link metrics}' text. */
  readonly contentType: string;

  readonly #clock: Clock;
  readonly #windowSeconds: number;
  readonly #versions = new Map<string, VersionEntry>();
  readonly #prom = new Registry();

  constructor(opts: MetricsRegistryOptions = {}) {
    const windowMs = opts.windowMs ?? DEFAULT_WINDOW_MS;
    if (!Number.isFinite(windowMs) || windowMs < 1000) {
      throw new RangeError(`metrics windowMs must be a number of ms ≥ 1000, got ${windowMs}`);
    }
    this.#windowSeconds = Math.ceil(windowMs / 1000);
    this.#clock = opts.clock ?? systemClock;
    registerRequestMetrics(this.#prom, () => this.#everySeries());
    this.contentType = this.#prom.contentType;
  }

  /** Same object for the same (service, version, role); cheap to call at config time, never per request. */
  recorder(service: string, version: string, role: Role): Recorder {
    checkRole(role, "role");
    const key = versionKey(service, version);
    let entry = this.#versions.get(key);
    if (entry === undefined) {
      entry = { roles: new Map() };
      this.#versions.set(key, entry);
    }
    let series = entry.roles.get(role);
    if (series === undefined) {
      // One second more than the window, so a full window ending mid-second is still held.
      series = new SeriesRecorder(service, version, role, this.#windowSeconds + 1, this.#clock);
      entry.roles.set(role, series);
    }
    return series;
  }

  /**
   * What a version did in [q.from, q.to), to one-second resolution. `from` is raised to the
   * oldest second still held (the summary says so); an unknown version gives an empty summary.
   */
  query(q: WindowQuery): WindowSummary {
    if (!Number.isFinite(q.from) || !Number.isFinite(q.to) || q.to <= q.from) {
      throw new RangeError(
        `metrics query needs finite epoch ms with from < to, got from=${q.from} to=${q.to}`,
      );
    }
    const roles = new Set(q.role === undefined ? LIVE_ROLES : [q.role].flat());
    const entry = this.#versions.get(versionKey(q.service, q.version));
    const series: SeriesRecorder[] = [];
    for (const role of roles) {
      checkRole(role, "query role");
      const s = entry?.roles.get(role);
      if (s !== undefined) series.push(s);
    }
    const heldFrom = (Math.floor(this.#clock.now() / 1000) - this.#windowSeconds) * 1000;
    const from = Math.min(q.to, Math.max(q.from, heldFrom));
    return summarizeWindow(series, q.service, q.version, from, q.to);
  }

  /** Versions that have data, for listing. */
  series(): Array<{ service: string; version: string; role: Role }> {
    const out: Array<{ service: string; version: string; role: Role }> = [];
    for (const s of this.#everySeries()) {
      if (s.requests > 0) out.push({ service: s.service, version: s.version, role: s.role });
    }
    return out;
  }

  /** The prom-client registry behind {@link metrics}, for other parts to add their own gauges. */
  get prometheus(): Registry {
    return this.#prom;
  }

  /** Prometheus text exposition (prom-client registry); see {@link contentType}. */
  metrics(): Promise<string> {
    return this.#prom.metrics();
  }

  /**
   * Drop a (service, version) once it is retired, so memory stays bounded across many deploys.
   * A recorder the proxy still holds keeps working but is no longer seen.
   */
  forget(service: string, version: string): void {
    this.#versions.delete(versionKey(service, version));
  }

  /** Every (service, version, role) recorder, for a router reporting its windows to the fleet. */
  recorders(): Iterable<SeriesRecorder> {
    return this.#everySeries();
  }

  *#everySeries(): Generator<SeriesRecorder> {
    for (const entry of this.#versions.values()) yield* entry.roles.values();
  }
}

function versionKey(service: string, version: string): string {
  return JSON.stringify([service, version]);
}

function checkRole(role: unknown, what: string): asserts role is Role {
  if (typeof role !== "string" || !ROLES.has(role)) {
    throw new TypeError(`metrics ${what} must be stable, canary or mirror, got ${String(role)}`);
  }
}
