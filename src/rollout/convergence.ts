/**
 * The convergence loop: makes the engine serve what the store says, and keeps it so.
 *
 * The controller commits a decision first and tells the engine second. An external engine can
 * be down, slow, restarted from its original configuration, or edited by hand, so telling it is
 * not a one-off call: this loop holds each service's desired traffic, applies it (one apply at a
 * time per service, always the newest state), retries a failed apply with back-off until the
 * engine takes it, reads back what the engine serves on every tick (every service, not only
 * those with an active rollout), and re-applies on drift. A failed apply never undoes a
 * committed decision: an abort that was recorded stays recorded, and is applied as soon as the
 * engine answers.
 *
 * What it finds goes into the history (`traffic.pending` when an apply first fails,
 * `traffic.applied` when it converges, `traffic.drift` when the engine served something else),
 * and into {@link TrafficStatus}, which the API shows beside the rollout's reason.
 *
 * @module
 */

import { isDeepStrictEqual } from "node:util";
import { isFlagSubject } from "../flags/subjects.js";
import { PROVIDER_TYPE as FLAGS_PROVIDER } from "../providers/traffic/flags/index.js";
import { type TrafficProvider, TrafficProviderError } from "../providers/traffic/provider.js";
import { servedOf, trafficDrift } from "../providers/traffic/served.js";
import type { Service } from "../spec/schema.js";
import type { Clock, TimerHandle } from "../util/clock.js";
import type { Logger } from "../util/log.js";
import { SPLIT_WINDOW_MS, type SplitReader, splitVerdict } from "./split-check.js";
import type { TrafficState } from "./types.js";

/** Whether a service's recorded traffic is what the engine serves. */
export interface TrafficStatus {
  /** The engine's provider type (`embedded`, `haproxy`, ...). */
  engine: string;
  /** True once the engine took the newest recorded state (and serves it, as far as observed). */
  applied: boolean;
  /** Why it is not applied, or why the served split is doubted; undefined when all is well. */
  why: string | undefined;
  /** Epoch ms since when it has not been applied (or since the last change). */
  since: number;
  /** Failed attempts since the state was recorded. */
  attempts: number;
}

/** A history event the loop asks the controller to record for a service. */
export interface TrafficEvent {
  type: "traffic.pending" | "traffic.applied" | "traffic.drift" | "traffic.split";
  reason: string;
  data: Record<string, unknown>;
}

export interface ConvergenceOptions {
  provider: TrafficProvider;
  clock: Clock;
  log: Logger;
  /** Records a history event for the service (the controller's store and hub). */
  record(service: string, event: TrafficEvent): void;
  /** The service's traffic converged after a failure or a drift: a waiting rollout can move on. */
  onConverged(service: string): void;
  /** Per-version request counts, to check that the engine really splits as told. */
  split?: SplitReader;
  /** First retry delay; doubles per failure up to {@link MAX_RETRY_MS}. */
  retryMs?: number;
}

/** The longest wait between two attempts: an engine that comes back is re-applied within it. */
export const MAX_RETRY_MS = 30_000;

interface Entry {
  desired: TrafficState;
  /** Epoch ms when `desired` was recorded. */
  recordedAt: number;
  applied: boolean;
  why: string | undefined;
  since: number;
  attempts: number;
  /** The apply under way, if any; `dirty` means a newer state arrived meanwhile. */
  running: Promise<void> | undefined;
  dirty: boolean;
  retry: TimerHandle | undefined;
  /** The split mismatch last recorded, so it is recorded once per state. */
  splitDoubt: string | undefined;
}

export class Convergence {
  readonly #provider: TrafficProvider;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #record: ConvergenceOptions["record"];
  readonly #onConverged: ConvergenceOptions["onConverged"];
  readonly #split: SplitReader | undefined;
  readonly #retryMs: number;
  readonly #entries = new Map<string, Entry>();
  /** Set while the engine cannot be read back: what observe said, and since when. */
  #unreadable: { why: string; since: number } | undefined;
  /** The whole-spec configure still owed to the engine, and its retry. */
  #configure:
    | { services: readonly Service[]; running: boolean; retry: TimerHandle | undefined }
    | undefined;
  /** Services whose spec has match routes: their share is not judged against the weight. */
  #routed = new Set<string>();
  /** When each service's split was last judged (it reads the metrics: not every tick). */
  readonly #splitAt = new Map<string, number>();
  #checking = false;
  #stopped = false;

  constructor(opts: ConvergenceOptions) {
    this.#provider = opts.provider;
    this.#clock = opts.clock;
    this.#log = opts.log;
    this.#record = opts.record;
    this.#onConverged = opts.onConverged;
    this.#split = opts.split;
    this.#retryMs = opts.retryMs ?? 1_000;
  }

  get engine(): string {
    return this.#provider.type;
  }

  /** What a service's status and history name: a flag's rollout is carried by the flags, not the engine. */
  #engineOf(service: string): string {
    return isFlagSubject(service) ? FLAGS_PROVIDER : this.engine;
  }

  /**
   * The engine serves exactly `services`, each with its committed traffic. A service no longer
   * named is forgotten (the provider finalizes it). An engine that cannot take it now is retried
   * with back-off; an error that is not the engine's (a bug: the spec was validated) is thrown.
   */
  async configure(
    services: readonly Service[],
    traffic: ReadonlyMap<string, TrafficState>,
  ): Promise<void> {
    const now = this.#clock.now();
    const names = new Set(services.map((s) => s.name));
    for (const name of this.#entries.keys()) if (!names.has(name)) this.forget(name);
    for (const [name, state] of traffic) {
      const entry = this.#entries.get(name);
      if (entry === undefined) this.#entries.set(name, newEntry(state, now));
      else if (entry.desired !== state) this.#redesire(entry, state, now);
    }
    this.#routed = new Set(services.filter((s) => s.routes.length > 0).map((s) => s.name));
    this.#configure?.retry?.cancel();
    this.#configure = { services, running: false, retry: undefined };
    await this.#runConfigure();
  }

  /**
   * Records `state` as what the engine should serve for `service`, and applies it. Resolves once
   * the engine took it or the failure is recorded (then retried in the background); never
   * rejects for the engine's sake.
   */
  async desire(service: string, state: TrafficState): Promise<void> {
    const now = this.#clock.now();
    const entry = this.#entries.get(service);
    // A transition that leaves the traffic as it was (a pause ends, a step starts) costs the
    // engine nothing: what it serves is checked every tick anyway.
    if (entry?.applied && entry.running === undefined && isDeepStrictEqual(entry.desired, state))
      return;
    if (entry === undefined) this.#entries.set(service, newEntry(state, now));
    else this.#redesire(entry, state, now);
    await this.#push(service);
  }

  /** Forgets a service the spec removed (the provider's configure finalizes it). */
  forget(service: string): void {
    this.#entries.get(service)?.retry?.cancel();
    this.#entries.delete(service);
    this.#splitAt.delete(service);
  }

  /** The service's status, or undefined for a service it does not hold. */
  status(service: string): TrafficStatus | undefined {
    const e = this.#entries.get(service);
    if (e === undefined) return undefined;
    // An engine that cannot be read back says nothing of a flag: flags never go through it.
    const unreadable = isFlagSubject(service) ? undefined : this.#unreadable;
    const why =
      e.why ??
      (unreadable ? `${this.engine} cannot be read back: ${unreadable.why}` : e.splitDoubt);
    const engine = this.#engineOf(service);
    return { engine, applied: e.applied, why, since: e.since, attempts: e.attempts };
  }

  /** Every held service's status, by name. */
  statuses(): Map<string, TrafficStatus> {
    const out = new Map<string, TrafficStatus>();
    for (const name of this.#entries.keys()) out.set(name, this.status(name) as TrafficStatus);
    return out;
  }

  /**
   * Whether the engine serves `state` for the service: applied, matching the last read-back,
   * and (where the metrics can tell) splitting requests as told. False while it is not.
   */
  inSync(service: string, state: TrafficState): boolean {
    const e = this.#entries.get(service);
    if (e === undefined || !e.applied || e.running !== undefined) return false;
    if (this.#unreadable !== undefined) return false;
    if (e.desired !== state && !isDeepStrictEqual(e.desired, state)) return false;
    return e.splitDoubt === undefined;
  }

  /**
   * One pass of the loop, every tick: reads back what the engine serves for every service,
   * re-applies where it differs (a hand edit, an engine restarted from its original
   * configuration) and checks the observed split. An engine that cannot be read is noted; the
   * next pass tries again.
   */
  async check(): Promise<void> {
    if (this.#checking || this.#stopped) return;
    this.#checking = true;
    try {
      let observed: Awaited<ReturnType<TrafficProvider["observe"]>>;
      try {
        observed = await this.#provider.observe();
      } catch (err) {
        if (!(err instanceof TrafficProviderError)) throw err;
        if (this.#unreadable === undefined) {
          this.#unreadable = { why: err.message, since: this.#clock.now() };
          this.#log.warn(
            { engine: this.engine, err: err.message },
            "cannot read back what the engine serves",
          );
        }
        return;
      }
      if (this.#unreadable !== undefined) {
        this.#log.info({ engine: this.engine }, "the engine answers again");
        this.#unreadable = undefined;
      }
      const now = this.#clock.now();
      for (const [name, e] of this.#entries) {
        // Only a state the engine took can drift; a pending one is being retried already.
        if (!e.applied || e.running !== undefined) continue;
        const drift = trafficDrift(servedOf(e.desired), observed.get(name));
        if (drift === undefined) {
          this.#checkSplit(name, e, now);
          continue;
        }
        this.#record(name, {
          type: "traffic.drift",
          reason: `${this.#engineOf(name)} served something else than recorded for ${name} (${drift}); re-applying`,
          data: { engine: this.#engineOf(name), drift },
        });
        e.applied = false;
        e.why = `drift: ${drift}`;
        e.since = now;
        void this.#push(name);
      }
    } finally {
      this.#checking = false;
    }
  }

  /** Stops retrying; the engine keeps serving what it was last told. */
  stop(): void {
    this.#stopped = true;
    this.#configure?.retry?.cancel();
    for (const e of this.#entries.values()) e.retry?.cancel();
  }

  /** Waits for every apply under way (tests, shutdown). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#entries.values()].map((e) => e.running));
  }

  #redesire(entry: Entry, state: TrafficState, now: number): void {
    if (entry.desired === state) return;
    if (isDeepStrictEqual(entry.desired, state)) {
      entry.desired = state;
      return;
    }
    entry.desired = state;
    entry.recordedAt = now;
    entry.splitDoubt = undefined;
    if (entry.applied) {
      entry.applied = false;
      entry.since = now;
      entry.attempts = 0;
    }
  }

  /** Applies the newest state of the service, one apply at a time; a newer state is applied after. */
  #push(service: string): Promise<void> {
    const e = this.#entries.get(service);
    if (e === undefined) return Promise.resolve();
    if (e.running !== undefined) {
      e.dirty = true;
      return e.running;
    }
    e.retry?.cancel();
    e.retry = undefined;
    const run = (async () => {
      do {
        e.dirty = false;
        const state = e.desired;
        try {
          await this.#provider.apply(service, state);
        } catch (err) {
          if (e.desired !== state) continue; // superseded while it failed: try the newer one
          this.#failed(service, e, err);
          return;
        }
        if (e.desired === state) this.#succeeded(service, e);
      } while (e.dirty && this.#entries.get(service) === e);
    })().finally(() => {
      e.running = undefined;
    });
    e.running = run;
    return run;
  }

  #succeeded(service: string, e: Entry): void {
    const wasPending = e.attempts > 0 || e.why !== undefined;
    const previous = e.why;
    e.applied = true;
    if (wasPending) {
      const now = this.#clock.now();
      const seconds = Math.round((now - e.since) / 100) / 10;
      const tries = e.attempts + 1;
      this.#record(service, {
        type: "traffic.applied",
        reason: `${this.#engineOf(service)} serves the recorded traffic of ${service} again, after ${tries} ${tries === 1 ? "attempt" : "attempts"} over ${seconds} s (was: ${previous ?? "not applied"})`,
        data: { engine: this.#engineOf(service), attempts: tries, pendingMs: now - e.since },
      });
    }
    e.why = undefined;
    e.attempts = 0;
    if (wasPending) this.#onConverged(service);
  }

  #failed(service: string, e: Entry, err: unknown): void {
    if (!(err instanceof TrafficProviderError)) {
      // Not the engine's failure but ours: say so loudly, and still retry (it may be transient).
      this.#log.error(
        { service, engine: this.engine, err: String(err) },
        "applying traffic failed unexpectedly",
      );
    }
    const why = err instanceof Error ? err.message : String(err);
    const first = e.attempts === 0 && !e.why?.startsWith("drift");
    e.attempts++;
    e.why = why;
    if (first) {
      const engine = this.#engineOf(service);
      this.#log.warn({ service, engine, err: why }, "recorded traffic not yet applied; retrying");
      this.#record(service, {
        type: "traffic.pending",
        reason: `recorded, not yet applied to ${engine}: ${why}; retrying until it answers`,
        data: {
          engine,
          error: why,
          kind: err instanceof TrafficProviderError ? err.kind : "internal",
        },
      });
    }
    if (this.#stopped) return;
    const delay = Math.min(MAX_RETRY_MS, this.#retryMs * 2 ** Math.min(e.attempts - 1, 16));
    e.retry = this.#clock.setTimeout(() => {
      e.retry = undefined;
      void this.#push(service);
    }, delay);
  }

  async #runConfigure(): Promise<void> {
    const c = this.#configure;
    if (c === undefined || c.running) return;
    c.running = true;
    const traffic = new Map([...this.#entries].map(([name, e]) => [name, e.desired]));
    try {
      await this.#provider.configure(c.services, traffic);
    } catch (err) {
      c.running = false;
      if (!(err instanceof TrafficProviderError)) throw err;
      const now = this.#clock.now();
      for (const [name, e] of this.#entries) {
        if (e.why === undefined)
          this.#record(name, {
            type: "traffic.pending",
            reason: `recorded, not yet applied to ${this.engine}: ${err.message}; retrying until it answers`,
            data: { engine: this.engine, error: err.message, kind: err.kind },
          });
        e.applied = false;
        e.why = err.message;
        e.attempts++;
        if (e.attempts === 1) e.since = now;
      }
      if (this.#stopped || this.#configure !== c) return;
      const attempts = Math.max(1, ...[...this.#entries.values()].map((e) => e.attempts));
      const delay = Math.min(MAX_RETRY_MS, this.#retryMs * 2 ** Math.min(attempts - 1, 16));
      c.retry = this.#clock.setTimeout(() => {
        c.retry = undefined;
        this.#runConfigure().catch((e: unknown) =>
          this.#log.error({ err: String(e) }, "configuring the engine failed unexpectedly"),
        );
      }, delay);
      this.#log.warn(
        { engine: this.engine, err: err.message },
        "the engine did not take the spec; retrying",
      );
      return;
    }
    c.running = false;
    if (this.#configure === c) this.#configure = undefined;
    for (const [name, e] of this.#entries) {
      if (traffic.get(name) !== e.desired) {
        void this.#push(name); // recorded while configure ran
        continue;
      }
      if (!e.applied) this.#succeeded(name, e);
    }
  }

  /** Records once per state when the engine's measured split is far from the weight it was told. */
  #checkSplit(service: string, e: Entry, now: number): void {
    if (this.#split === undefined) return;
    // A stable-only service long settled has nothing to verify; others are judged every 5 s.
    if (e.desired.canary === null && now - e.recordedAt > 5 * SPLIT_WINDOW_MS) return;
    if (now - (this.#splitAt.get(service) ?? 0) < 5_000) return;
    this.#splitAt.set(service, now);
    const verdict = splitVerdict(
      this.#split,
      service,
      e.desired,
      e.recordedAt,
      now,
      this.#routed.has(service),
    );
    if (verdict === undefined || verdict.ok) {
      if (verdict?.ok && e.splitDoubt !== undefined) {
        e.splitDoubt = undefined;
        this.#onConverged(service);
      }
      return;
    }
    if (e.splitDoubt !== undefined) return;
    e.splitDoubt = verdict.sentence;
    this.#record(service, {
      type: "traffic.split",
      reason: `${this.engine} does not split ${service} as told: ${verdict.sentence}`,
      data: { engine: this.engine, ...verdict.data },
    });
  }
}

function newEntry(state: TrafficState, now: number): Entry {
  return {
    desired: state,
    recordedAt: now,
    applied: false,
    why: undefined,
    since: now,
    attempts: 0,
    running: undefined,
    dirty: false,
    retry: undefined,
    splitDoubt: undefined,
  };
}
