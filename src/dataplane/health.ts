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
import type { RouterPlan } from "./plan.js";
import type { Target } from "./targets.js";

interface Check {
  target: Target;
  config: HealthCheck;
  timer: TimerHandle | undefined;
  passes: number;
  failures: number;
  stopped: boolean;
}

export class HealthChecks {
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #checks = new Map<string, Check>();

  constructor(clock: Clock, log: Logger) {
    this.#clock = clock;
    this.#log = log;
  }

  /** Makes the running checks match the services: starts new ones, stops the rest. */
  reconcile(services: readonly Service[], plan: RouterPlan): void {
    const wanted = new Map<string, { target: Target; config: HealthCheck }>();
    for (const svc of services) {
      if (svc.healthCheck === undefined) continue;
      const sp = plan.services.find((p) => p.name === svc.name);
      if (sp === undefined) continue;
      for (const v of [sp.stable, sp.canary]) {
        for (const target of v?.targets.targets ?? []) {
          wanted.set(`${target.origin}|${JSON.stringify(svc.healthCheck)}`, {
            target,
            config: svc.healthCheck,
          });
        }
      }
    }
    for (const [key, check] of this.#checks) {
      if (wanted.get(key)?.target === check.target) continue;
      this.#stopCheck(check);
      this.#checks.delete(key);
    }
    for (const [key, { target, config }] of wanted) {
      if (this.#checks.has(key)) continue;
      const check: Check = {
        target,
        config,
        timer: undefined,
        passes: 0,
        failures: 0,
        stopped: false,
      };
      this.#checks.set(key, check);
      this.#schedule(check, 0);
    }
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
