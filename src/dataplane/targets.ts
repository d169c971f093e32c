/**
 * Upstream targets: one keep-alive undici pool per origin, round-robin across a version's
 * targets, passive outlier ejection after consecutive failures (with doubling back-off, as
 * Envoy does), and the health state that active checks set.
 *
 * @module
 */

import { Pool } from "undici";
import type { OutlierDetection } from "../spec/schema.js";
import { parseDuration } from "../util/duration.js";

/** Connection settings a pool is built with; targets with other settings get their own pool. */
export interface PoolSettings {
  connectTimeoutMs: number;
  connections: number;
  /** Requests that may wait in the pool's queue when every connection is busy. */
  queue: number;
  keepAliveTimeoutMs: number;
}

export interface OutlierPolicy {
  consecutiveFailures: number;
  countServerErrors: boolean;
  baseEjectionMs: number;
  maxEjectionMs: number;
}

export function outlierPolicy(spec: OutlierDetection): OutlierPolicy {
  return {
    consecutiveFailures: spec.consecutiveFailures,
    countServerErrors: spec.countServerErrors,
    baseEjectionMs: parseDuration(spec.baseEjectionTime) as number,
    maxEjectionMs: parseDuration(spec.maxEjectionTime) as number,
  };
}

/** One upstream address with its pool and health. Shared by every plan that names it. */
export class Target {
  readonly origin: string;
  /** The registry's key: the origin and the pool settings. */
  readonly key: string;
  readonly pool: Pool;
  /** Set by active health checks; passive ejection is tracked separately. */
  healthy = true;
  /** Epoch ms until which passive outlier detection keeps this target out. */
  ejectedUntil = 0;
  /** Times ejected since it last served well; drives the doubling back-off. */
  ejections = 0;
  /**
   * Requests dispatched to this target and not yet finished (running or queued in the pool).
   * Kept by the router, one increment and one decrement per attempt: cheaper on the hot path
   * than undici's `pool.stats`, which builds an object and walks every connection.
   */
  active = 0;
  /** Connections plus queue places: at `active >= capacity` the target takes nothing more. */
  readonly capacity: number;
  #consecutiveFailures = 0;
  /** Service plans in force that name this target; the registry closes the pool at 0. */
  holders = 0;

  constructor(origin: string, settings: PoolSettings, key = origin) {
    this.origin = origin;
    this.key = key;
    this.capacity = settings.connections + settings.queue;
    this.pool = new Pool(origin, {
      connections: settings.connections,
      pipelining: 1,
      connectTimeout: settings.connectTimeoutMs,
      keepAliveTimeout: settings.keepAliveTimeoutMs,
    });
  }

  isAvailable(now: number): boolean {
    return this.healthy && this.ejectedUntil <= now;
  }

  /** A response arrived; `serverError` is a 5xx. */
  recordResponse(serverError: boolean, policy: OutlierPolicy, now: number): void {
    if (serverError && policy.countServerErrors) this.recordFailure(policy, now);
    else if (this.#consecutiveFailures !== 0 || this.ejections !== 0) {
      this.#consecutiveFailures = 0;
      this.ejections = 0;
    }
  }

  /** A connect error or timeout; ejects the target after `consecutiveFailures` in a row. */
  recordFailure(policy: OutlierPolicy, now: number): void {
    if (policy.consecutiveFailures === 0) return;
    if (++this.#consecutiveFailures < policy.consecutiveFailures) return;
    this.#consecutiveFailures = 0;
    const backoff = Math.min(policy.baseEjectionMs * 2 ** this.ejections, policy.maxEjectionMs);
    this.ejections++;
    this.ejectedUntil = now + backoff;
  }
}

/** The targets of one version, picked round-robin among those available. */
export class TargetGroup {
  readonly targets: readonly Target[];
  readonly policy: OutlierPolicy;
  #next = 0;

  constructor(targets: readonly Target[], policy: OutlierPolicy) {
    if (targets.length === 0) throw new Error("a target group needs at least one target");
    this.targets = targets;
    this.policy = policy;
  }

  /**
   * The next available target, round-robin, skipping `avoid` (the one a retry moves away from).
   * When every target is out, all of them are tried anyway: a guess beats a certain 502
   * (Envoy's "panic mode").
   */
  pick(now: number, avoid?: Target): Target {
    const targets = this.targets;
    const n = targets.length;
    if (n === 1) return targets[0] as Target;
    for (let tries = 0; tries < n; tries++) {
      const t = targets[this.#next] as Target;
      this.#next = this.#next + 1 === n ? 0 : this.#next + 1;
      if (t !== avoid && t.isAvailable(now)) return t;
    }
    const t = targets[this.#next] as Target;
    this.#next = this.#next + 1 === n ? 0 : this.#next + 1;
    return t;
  }

  /** True when at least one target is in rotation. */
  anyAvailable(now: number): boolean {
    const targets = this.targets;
    for (let i = 0; i < targets.length; i++)
      if ((targets[i] as Target).isAvailable(now)) return true;
    return false;
  }

  /**
   * An available target with room for one more request (see {@link Target.capacity}), or
   * undefined when every one is full. Only asked once the round-robin pick was full.
   */
  withRoom(now: number): Target | undefined {
    const targets = this.targets;
    for (let i = 0; i < targets.length; i++) {
      const t = targets[i] as Target;
      if (t.active < t.capacity && t.isAvailable(now)) return t;
    }
    return undefined;
  }

  /** True when some target other than `t` could take a retry. */
  hasAlternative(t: Target, now: number): boolean {
    return this.targets.some((o) => o !== t && o.isAvailable(now));
  }
}

/**
 * Owns every Target, so plans built one after another share pools and health state. Each
 * service plan in force holds its targets; a pool no plan holds any more is closed once its
 * in-flight requests finish. Counting holders (rather than collecting every target in use)
 * lets a change to one service cost work for that service only.
 */
export class TargetRegistry {
  readonly #targets = new Map<string, Target>();

  /** The target for this origin and these settings, made (unheld) if there is none. */
  get(origin: string, settings: PoolSettings): Target {
    const key = `${origin}|${settings.connectTimeoutMs}|${settings.connections}|${settings.queue}|${settings.keepAliveTimeoutMs}`;
    let t = this.#targets.get(key);
    if (t === undefined) {
      t = new Target(origin, settings, key);
      this.#targets.set(key, t);
    }
    return t;
  }

  hold(targets: Iterable<Target>): void {
    for (const t of targets) t.holders++;
  }

  /** Drops one hold on each; a target nobody holds any more is closed (gracefully). */
  release(targets: Iterable<Target>): void {
    for (const t of targets) if (--t.holders <= 0) this.#retire(t);
  }

  /**
   * Closes targets made but never held: a compile that failed half-way may have made some.
   * Walks every target, so it is for that failure path only.
   */
  closeUnheld(): void {
    for (const t of this.#targets.values()) if (t.holders <= 0) this.#retire(t);
  }

  /** Targets the registry holds open (for tests and introspection). */
  get size(): number {
    return this.#targets.size;
  }

  #retire(t: Target): void {
    if (this.#targets.get(t.key) !== t) return;
    this.#targets.delete(t.key);
    // close() lets queued and running requests finish, so a swap fails no request.
    t.pool.close().catch(() => {});
  }

  async closeAll(): Promise<void> {
    const targets = [...this.#targets.values()];
    this.#targets.clear();
    await Promise.all(targets.map((t) => t.pool.close().catch(() => {})));
  }

  async destroyAll(): Promise<void> {
    const targets = [...this.#targets.values()];
    this.#targets.clear();
    await Promise.all(targets.map((t) => t.pool.destroy().catch(() => {})));
  }
}
