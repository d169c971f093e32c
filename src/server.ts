/**
 * One Aviary process: the data-plane router and the admin server, wired to one metrics
 * registry. `aviary serve` and the demo start it; tests start it in-process.
 *
 * @module
 */

import type { FastifyInstance } from "fastify";
import { createAdminServer, listenAdmin } from "./api/server.js";
import { MetricsRegistry } from "./dataplane/metrics/registry.js";
import { Router } from "./dataplane/router.js";
import type { Spec } from "./spec/schema.js";
import { type ListenAddress, parseListenAddress } from "./util/address.js";
import { type Clock, systemClock } from "./util/clock.js";
import { parseDuration } from "./util/duration.js";
import type { Logger } from "./util/log.js";

export interface AviaryOptions {
  spec: Spec;
  log: Logger;
  /** Overrides the spec's `listen`. */
  listen?: string;
  /** Overrides the spec's `admin`. */
  admin?: string;
  clock?: Clock;
}

export interface RunningAviary {
  router: Router;
  metrics: MetricsRegistry;
  admin: FastifyInstance;
  listen: ListenAddress;
  adminAddress: ListenAddress;
  /** Applies a changed spec's services (the listen addresses stay as they are). */
  reload(spec: Spec): void;
  close(): Promise<void>;
}

export async function startAviary(opts: AviaryOptions): Promise<RunningAviary> {
  const clock = opts.clock ?? systemClock;
  const listen = parseListenAddress(opts.listen ?? opts.spec.listen);
  const adminAt = parseListenAddress(opts.admin ?? opts.spec.admin);
  if (listen === undefined) throw new Error(`invalid listen address ${opts.listen}`);
  if (adminAt === undefined) throw new Error(`invalid admin address ${opts.admin}`);

  const metrics = new MetricsRegistry({
    windowMs: parseDuration(opts.spec.metrics.window) as number,
    clock,
  });
  const router = new Router({ metrics, proxy: opts.spec.proxy, log: opts.log, clock });
  router.apply(opts.spec.services);
  const admin = createAdminServer({ router, metrics });

  const boundListen = await router.listen(listen);
  let boundAdmin: ListenAddress;
  try {
    boundAdmin = await listenAdmin(admin, adminAt);
  } catch (err) {
    await router.close();
    throw err;
  }
  return {
    router,
    metrics,
    admin,
    listen: boundListen,
    adminAddress: boundAdmin,
    reload(spec) {
      router.apply(spec.services);
    },
    async close() {
      await Promise.all([router.close(), admin.close()]);
    },
  };
}
