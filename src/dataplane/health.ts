/**
 * Active health checks: a GET to each target of a service that asks for them, on an interval;
 * a target leaves rotation after `unhealthyThreshold` failures in a row and returns after
 * `healthyThreshold` passes. 2xx and 3xx pass.
 *
 * @module
 */

import type { Logger } from "pino";
import type { HealthCheck, Service } from "../spec/schema.js";
import type { Clock, TimerHandle } from "../util/clock.js";
import { parseDuration } from "../util/duration.js";
import type { ServicePlan } from "./plan.js";
import type { Target } from "./targets.js";

interface Check {
  target: Target;
  config: HealthCheck;
  timer: TimerHandle | undefined;
  passes: number;
  failures: number;
  stopped: boolean;
  /** Services whose plan in force asks for this check. */
  users: number;
}

export class HealthChecks {
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #checks = new Map<string, Check>();
  /** The checks each service asks for now, by key: what a change of that service undoes. */
  readonly #byService = new Map<string, readonly string[]>();

  constructor(clock: Clock, log: Logger) {
    this.#clock = clock;
    this.#log = log;
  }

  /**
   * Makes the checks of one service follow its plan: every target it serves (stable and
   * canary), probed as its spec says. Other services' checks are not looked at; a check two
   * services share runs once and stops when neither asks for it.
   */
  follow(service: Service, plan: ServicePlan): void {
    const keys: string[] = [];
    const config = service.healthCheck;
    if (config !== undefined) {
      const json = JSON.stringify(config);
      for (const v of [plan.stable, plan.canary]) {
        for (const target of v?.targets.targets ?? []) {
          const key = `${target.key}|${json}`;
          if (keys.includes(key)) continue;
          keys.push(key);
          this.#use(key, target, config);
        }
      }
    }
    // Taken before the old ones are dropped, so a check kept across the change keeps its state.
    this.#drop(this.#byService.get(service.name) ?? []);
    if (keys.length === 0) this.#byService.delete(service.name);
    else this.#byService.set(service.name, keys);
  }

  /** The service is no longer served: its checks stop unless another service uses them. */
  forget(service: string): void {
    this.#drop(this.#byService.get(service) ?? []);
    this.#byService.delete(service);
  }

  #use(key: string, target: Target, config: HealthCheck): void {
    const running = this.#checks.get(key);
    if (running !== undefined && running.target === target) {
      running.users++;
      return;
    }
    // The same key on another Target object: the old one's pool was closed and a new one
    // made, so the old check watches nothing served.
    if (running !== undefined) this.#stopCheck(running);
    const check: Check = {
      target,
      config,
      timer: undefined,
      passes: 0,
      failures: 0,
      stopped: false,
      users: 1 + (running?.users ?? 0),
    };
    this.#checks.set(key, check);
    this.#schedule(check, 0);
  }

  #drop(keys: readonly string[]): void {
    for (const key of keys) {
      const check = this.#checks.get(key);
      if (check === undefined || --check.users > 0) continue;
      this.#stopCheck(check);
      this.#checks.delete(key);
    }
  }

  /** Checks running now (for tests and introspection). */
  get size(): number {
    return this.#checks.size;
  }

  stop(): void {
    for (const check of this.#checks.values()) this.#stopCheck(check);
    this.#checks.clear();
  }

  #stopCheck(check: Check): void {
    check.stopped = true;
    check.timer?.cancel();
    // A target no check watches any more must not stay out of rotation forever.
    check.target.healthy = true;
  }

  #schedule(check: Check, delay: number): void {
    if (check.stopped) return;
    check.timer = this.#clock.setTimeout(() => void this.#probe(check), delay);
  }

  async #probe(check: Check): Promise<void> {
    const timeout = parseDuration(check.config.timeout) as number;
    let ok = false;
    try {
      const { statusCode, body } = await check.target.pool.request({
        path: check.config.path,
        method: "GET",
        headers: { "user-agent": "aviary-health-check" },
        headersTimeout: timeout,
        bodyTimeout: timeout,
      });
      await body.dump();
      ok = statusCode >= 200 && statusCode < 400;
    } catch {
      ok = false;
    }
    if (check.stopped) return;
    if (ok) {
      check.failures = 0;
      if (++check.passes >= check.config.healthyThreshold && !check.target.healthy) {
        check.target.healthy = true;
        this.#log.info({ target: check.target.origin }, "target healthy again");
      }
    } else {
      check.passes = 0;
      if (++check.failures >= check.config.unhealthyThreshold && check.target.healthy) {
        check.target.healthy = false;
        this.#log.warn(
          { target: check.target.origin },
          "target failed its health checks; out of rotation",
        );
      }
    }
    this.#schedule(check, parseDuration(check.config.interval) as number);
  }
}
