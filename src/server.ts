/**
 * One Aviary process: the data-plane router, the rollout controller with its store, and the
 * admin server, wired to one metrics registry. `aviary serve` and the demo start it; tests
 * start it in-process.
 *
 * @module
 */

import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { FastifyInstance } from "fastify";
import { createJudge } from "./analysis/judges/index.js";
import { loadOperatorToken } from "./api/auth.js";
import { type AdminOptions, createAdminServer, listenAdmin } from "./api/server.js";
import { TokenRegistry } from "./api/tokens.js";
import { MetricsRegistry } from "./dataplane/metrics/registry.js";
import { Router } from "./dataplane/router.js";
import { AviaryError } from "./errors.js";
import { EventHub } from "./events/hub.js";
import { startFleetControlPlane } from "./fleet/control-plane.js";
import { callGate, resolveGateHook } from "./notify/gate-client.js";
import { startNotifier } from "./notify/notifier.js";
import { createMetricProvider } from "./providers/metrics/factory.js";
import { createTrafficProvider, servesInProcess } from "./providers/traffic/factory.js";
import { KnownVersions } from "./providers/traffic/logs/known-versions.js";
import { type LogListener, startLogListener } from "./providers/traffic/logs/listener.js";
import { Controller } from "./rollout/controller.js";
import type { SpecChange } from "./rollout/spec-changes.js";
import type { Service, Spec } from "./spec/schema.js";
import { openSqliteStore, type SqliteStoreOptions } from "./store/sqlite/sqlite-store.js";
import type { Store } from "./store/store.js";
import { checkListenAddresses, type ListenAddress, parseListenAddress } from "./util/address.js";
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
  /** Event stream limits of the admin server (tests lower them). */
  streams?: AdminOptions["streams"];
  /** The admin server's connection cap and request-head timeout (tests lower them). */
  adminLimits?: Pick<AdminOptions, "maxConnections" | "headersTimeoutMs">;
  /** Where the spec came from (the file as given), kept with the applied spec in the store. */
  specSource?: string;
  /** Store options: initStore (`serve --init-store`), a shorter busy timeout (tests). */
  store?: Pick<SqliteStoreOptions, "initStore" | "busyTimeoutMs">;
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
  /** The engine's access-log listener (external engines only). */
  logs: LogListener | undefined;
  /** Where the operator token came from (env or file); never the token itself. */
  tokenSource: string;
  /** The tokens file the admin API re-reads when it changes. */
  tokensFile: string;
  /** Applies a changed spec (the listen addresses stay as they are). */
  reload(spec: Spec): Promise<SpecChange[]>;
  close(): Promise<void>;
}

export async function startAviary(opts: AviaryOptions): Promise<RunningAviary> {
  const clock = opts.clock ?? systemClock;
  const specSource = opts.specSource ?? "spec";
  const listen = parseListenAddress(opts.listen ?? opts.spec.listen);
  const adminAt = parseListenAddress(opts.admin ?? opts.spec.admin);
  if (listen === undefined) throw new Error(`invalid listen address ${opts.listen}`);
  if (adminAt === undefined) throw new Error(`invalid admin address ${opts.admin}`);
  checkListenAddresses(listen, adminAt);

  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  // Tokens first: a tokens file with a bad line stops the start, naming file:line, before
  // anything is opened or bound.
  const { token, source } = loadOperatorToken(opts.dataDir);
  const tokens = new TokenRegistry({
    operatorToken: token,
    file: resolve(opts.dataDir, opts.spec.auth.tokensFile),
    clock,
    log: opts.log,
  });
  const store = openSqliteStore(join(opts.dataDir, "aviary.db"), {
    synchronous: sqliteSynchronous(opts.spec.dataplane),
    ...opts.store,
  });
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
  // engine fleet: routers pull the state from the store through the API and report back.
  const fleet = startFleetControlPlane({ spec: opts.spec, store, clock, log: opts.log });
  const traffic = createTrafficProvider(opts.spec.dataplane, {
    router,
    clock,
    log: opts.log,
    ...(fleet ? { fleet: fleet.traffic } : {}),
  });
  const controller = new Controller({
    store,
    hub,
    router: traffic,
    // The engine's split is checked against the same per-version counts the analysis reads.
    split:
      fleet?.split ??
      ((service, version, from, to) => metrics.query({ service, version, from, to }).requests),
    clock,
    log: opts.log,
    tickMs: parseDuration(opts.spec.controller.tick) as number,
    ...(opts.faults ? { faults: opts.faults } : {}),
    analysis: {
      providerFor: (metric) =>
        createMetricProvider(metric.provider, { metrics, ...fleet?.metricDeps }),
      judgeFor: createJudge,
    },
    gateCaller: (gate, payload, signal) => callGate(gate, payload, { signal }),
    // Secrets of gates are read before a spec is applied (at start, on a reload, on an apply):
    // a missing one refuses the spec, naming it, rather than surfacing at the first rollback.
    validate: checkGateHooks,
  });
  const admin = createAdminServer({
    metrics,
    metricsWindowMs: parseDuration(opts.spec.metrics.window) as number,
    controller,
    store,
    hub,
    tokens,
    anonymousRead: opts.spec.auth.anonymousRead,
    clock,
    log: opts.log,
    ...(opts.streams ? { streams: opts.streams } : {}),
    ...opts.adminLimits,
    ...(fleet ? { fleet: fleet.api } : {}),
  });

  // Secrets of notifications are read now: a missing one stops the start, naming it. Those of
  // gates are the controller's check on every spec (see validate above).
  const notifier = startNotifier({
    hub,
    notifications: opts.spec.notifications,
    clock,
    log: opts.log,
    prometheus: metrics.prometheus,
    versionsOf: async (id) => {
      const r = await store.getRollout(id);
      return r && { stable: r.stable.version, canary: r.canary.version };
    },
  });

  // An external engine's access log feeds the same per-version windows the embedded router
  // fills; only versions the store names are recorded (KnownVersions).
  let logs: LogListener | undefined;
  const closeAll = async () => {
    await logs?.close();
    await controller.stop();
    await traffic.close();
    fleet?.close();
    await notifier.close();
    await Promise.all([router.close(), admin.close()]);
    await store.close();
  };
  let boundListen: ListenAddress;
  let boundAdmin: ListenAddress;
  try {
    const logSettings = opts.spec.dataplane.logs;
    const known = logSettings && new KnownVersions(metrics, store);
    if (known !== undefined) {
      hub.subscribe((m) => {
        if (m.kind === "event")
          known
            .refresh(m.event.service)
            .catch((err: unknown) =>
              opts.log.error(
                { service: m.event.service, err: String(err) },
                "could not read a service's versions for its access log",
              ),
            );
      });
      await known.load();
    }
    await controller.start(opts.spec.services, opts.spec.analysisTemplates, specSource);
    if (logSettings !== undefined && known !== undefined) {
      logs = await startLogListener({
        listen: logSettings.listen,
        ...(logSettings.allowFrom ? { allowFrom: logSettings.allowFrom } : {}),
        resolve: known.resolve,
        log: opts.log,
        prometheus: metrics.prometheus,
        clock,
      });
    }
    boundListen = servesInProcess(opts.spec.dataplane) ? await router.listen(listen) : listen;
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
    logs,
    tokenSource: source,
    tokensFile: tokens.file,
    // All or nothing (see Controller.applySpec): a refused spec rejects and changes nothing.
    reload: (spec) =>
      controller.applySpec(spec.services, "spec", {
        dryRun: false,
        templates: spec.analysisTemplates,
        source: specSource,
      }),
    close: closeAll,
  };
}

/**
 * How durable a SQLite commit is, by who serves the traffic. Either way a committed transition
 * survives the process being killed (SIGKILL, OOM: the OS holds the written WAL); they differ
 * on a power cut or kernel crash.
 * - The embedded router (NORMAL): a power cut may lose the last transitions, but it also stops
 *   the router, which restarts with the store and serves what the store says: the two stay
 *   consistent, and no commit stalls the data plane's event loop on an fsync.
 * - An external engine (FULL): the engine outlives Aviary. A transition it was already told
 *   must not be lost, or the store would be behind the traffic it drives (a canary serving
 *   that the store says was never started); so a commit returns only once fsynced.
 */
export function sqliteSynchronous(dataplane: Spec["dataplane"]): "full" | "normal" {
  return servesInProcess(dataplane) ? "normal" : "full";
}

/** Every gate's hook resolves (its URL or secret is there); names the service and the gate if not. */
function checkGateHooks(services: readonly Service[]): void {
  for (const svc of services)
    for (const gate of svc.strategy?.gates ?? []) {
      try {
        resolveGateHook(gate);
      } catch (err) {
        const detail = err instanceof Error ? err.message : String(err);
        throw new AviaryError("AVIARY_SPEC_INVALID", `service ${svc.name}: ${detail}`, {
          cause: err,
        });
      }
    }
}
