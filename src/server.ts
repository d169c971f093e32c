/**
 * One Aviary process: the data-plane router, the rollout controller with its store, and the
 * admin server, wired to one metrics registry. `aviary serve` and the demo start it; tests
 * start it in-process.
 *
 * @module
 */

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { createJudge } from "./analysis/judges/index.js";
import { loadOperatorToken, TokenCheck } from "./api/auth.js";
import { createAdminServer, listenAdmin } from "./api/server.js";
import { MetricsRegistry } from "./dataplane/metrics/registry.js";
import { Router } from "./dataplane/router.js";
import { EventHub } from "./events/hub.js";
import { createMetricProvider } from "./providers/metrics/factory.js";
import { EmbeddedTrafficRouter } from "./providers/traffic/embedded/index.js";
import { Controller } from "./rollout/controller.js";
import type { SpecChange } from "./rollout/spec-changes.js";
import type { Spec } from "./spec/schema.js";
import { openSqliteStore } from "./store/sqlite/sqlite-store.js";
import type { Store } from "./store/store.js";
import { type ListenAddress, parseListenAddress } from "./util/address.js";
import { type Clock, systemClock } from "./util/clock.js";
import { parseDuration } from "./util/duration.js";
import type { Logger } from "./util/log.js";

export interface AviaryOptions {
  spec: Spec;
  log: Logger;
  /** Where the store and the operator token live. */
  dataDir: string;
  /** Overrides the spec's `listen`. */
  listen?: string;
  /** Overrides the spec's `admin`. */
  admin?: string;
  clock?: Clock;
  /** Fault-injection seams for crash tests (see Controller). */
  faults?: { beforeCommit?: () => void; afterCommit?: () => void };
}

export interface RunningAviary {
  router: Router;
  metrics: MetricsRegistry;
  controller: Controller;
  store: Store;
  /** Every committed event and measurement, as it happens. */
  hub: EventHub;
  admin: FastifyInstance;
  listen: ListenAddress;
  adminAddress: ListenAddress;
  /** Where the operator token came from (env or file); never the token itself. */
  tokenSource: string;
  /** Applies a changed spec (the listen addresses stay as they are). */
  reload(spec: Spec): Promise<SpecChange[]>;
  close(): Promise<void>;
}

export async function startAviary(opts: AviaryOptions): Promise<RunningAviary> {
  const clock = opts.clock ?? systemClock;
  const listen = parseListenAddress(opts.listen ?? opts.spec.listen);
  const adminAt = parseListenAddress(opts.admin ?? opts.spec.admin);
  if (listen === undefined) throw new Error(`invalid listen address ${opts.listen}`);
  if (adminAt === undefined) throw new Error(`invalid admin address ${opts.admin}`);

  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  // WAL with synchronous=NORMAL: a committed transition survives the process being killed
  // (the crash-and-resume tests SIGKILL it), and the commit does not stall the data plane's
  // event loop on an fsync. A power cut may lose the last transitions, but it also restarts the
  // embedded router, which then serves what the store says: the two stay consistent.
  const store = openSqliteStore(join(opts.dataDir, "aviary.db"), { synchronous: "normal" });
  const metrics = new MetricsRegistry({
    windowMs: parseDuration(opts.spec.metrics.window) as number,
    clock,
  });
  const router = new Router({
    metrics,
    proxy: opts.spec.proxy,
    log: opts.log,
    clock,
    retainRetiredMs: parseDuration(opts.spec.metrics.window) as number,
  });
  const hub = new EventHub((err) =>
    opts.log.error({ err: String(err) }, "an event subscriber failed"),
  );
  const controller = new Controller({
    store,
    hub,
    router: new EmbeddedTrafficRouter(router, clock),
    clock,
    log: opts.log,
    tickMs: parseDuration(opts.spec.controller.tick) as number,
    ...(opts.faults ? { faults: opts.faults } : {}),
    analysis: {
      providerFor: (metric) => createMetricProvider(metric.provider, { metrics }),
      judgeFor: createJudge,
    },
  });
  const { token, source } = loadOperatorToken(opts.dataDir);
  const admin = createAdminServer({
    metrics,
    controller,
    tokens: new TokenCheck([token]),
    log: opts.log,
  });

  const closeAll = async () => {
    await controller.stop();
    await Promise.all([router.close(), admin.close()]);
    store.close();
  };
  let boundListen: ListenAddress;
  let boundAdmin: ListenAddress;
  try {
    await controller.start(opts.spec.services, opts.spec.analysisTemplates);
    boundListen = await router.listen(listen);
    boundAdmin = await listenAdmin(admin, adminAt);
  } catch (err) {
    await closeAll();
    throw err;
  }
  return {
    router,
    metrics,
    controller,
    store,
    hub,
    admin,
    listen: boundListen,
    adminAddress: boundAdmin,
    tokenSource: source,
    reload: (spec) =>
      controller.applySpec(spec.services, "spec", {
        dryRun: false,
        templates: spec.analysisTemplates,
      }),
    close: closeAll,
  };
}
