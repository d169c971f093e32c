/**
 * One Aviary process: the data-plane router, the rollout controller with its store, and the
 * admin server, wired to one metrics registry. `aviary serve` and the demo start it; tests
 * start it in-process.
 *
 * Every instance takes part in the election for the `controller` lease (`cluster/`), SQLite
 * (one instance, the default) as well as Postgres (several). The leader runs the controller on
 * a store fenced with its epoch, one term per lead; every instance serves the API, the
 * dashboard and the event streams from the store, its event hub fed by the store's tail, and
 * hands commands to the leader through the store when it does not lead.
 *
 * @module
 */

import { mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { FastifyInstance } from "fastify";
import { createJudge } from "./analysis/judges/index.js";
import { loadOperatorToken } from "./api/auth.js";
import { problemOf } from "./api/problem.js";
import { commandExecutor, committedAnswer } from "./api/rollout-routes.js";
import { type AdminOptions, createAdminServer, listenAdmin } from "./api/server.js";
import { TokenRegistry } from "./api/tokens.js";
import { Cluster } from "./cluster/cluster.js";
import { instanceIdentity } from "./cluster/leadership.js";
import { clusterReads } from "./cluster/reads.js";
import { TrafficStatusPublisher } from "./cluster/traffic-status.js";
import { MetricsRegistry } from "./dataplane/metrics/registry.js";
import { Router } from "./dataplane/router.js";
import { AviaryError } from "./errors.js";
import { EventHub } from "./events/hub.js";
import { StoreTail } from "./events/tail.js";
import type { Flag } from "./flags/schema.js";
import { ServedFlags } from "./flags/served.js";
import { isFlagSubject } from "./flags/subjects.js";
import { type FleetControlPlane, startFleetControlPlane } from "./fleet/control-plane.js";
import { NotificationFeed } from "./notify/feed.js";
import { callGate, resolveGateHook } from "./notify/gate-client.js";
import {
  type NotificationTarget,
  readNotificationTargets,
  startNotifier,
} from "./notify/notifier.js";
import { type OfrepLimits, type OfrepServer, startOfrep } from "./ofrep/server.js";
import { createMetricProvider } from "./providers/metrics/factory.js";
import { BySubject } from "./providers/traffic/by-subject.js";
import { createTrafficProvider, servesInProcess } from "./providers/traffic/factory.js";
import { FlagTrafficProvider, flagSink } from "./providers/traffic/flags/index.js";
import { KnownVersions } from "./providers/traffic/logs/known-versions.js";
import { type LogListener, startLogListener } from "./providers/traffic/logs/listener.js";
import { Controller } from "./rollout/controller.js";
import type { SpecChange } from "./rollout/spec-changes.js";
import { appliedDocument } from "./rollout/spec-commit.js";
import type { AnalysisTemplate, Service, Spec } from "./spec/schema.js";
import { openSqliteStore, type SqliteStoreOptions } from "./store/sqlite/sqlite-store.js";
import type { Store } from "./store/store.js";
import { startTrackingShare, type TrackingShare } from "./tracking/shared.js";
import { flagAwareSource } from "./tracking/source.js";
import { FlagWindows } from "./tracking/windows.js";
import {
  checkListenAddresses,
  checkOfrepAddress,
  type ListenAddress,
  parseListenAddress,
} from "./util/address.js";
import { type Clock, systemClock } from "./util/clock.js";
import { parseDuration } from "./util/duration.js";
import type { Logger } from "./util/log.js";
import { sameJson } from "./util/same-json.js";

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
  /** The OFREP listener's limits (tests lower them). */
  ofrepLimits?: OfrepLimits;
  /** The admin server's connection cap and request-head timeout (tests lower them). */
  adminLimits?: Pick<AdminOptions, "maxConnections" | "headersTimeoutMs">;
  /** Where the spec came from (the file as given), kept with the applied spec in the store. */
  specSource?: string;
  /** Store options: initStore (`serve --init-store`), a shorter busy timeout (tests). */
  store?: Pick<SqliteStoreOptions, "initStore" | "busyTimeoutMs">;
  /**
   * A store opened by the caller (Postgres: `aviary serve --store postgres://...`); without it,
   * the SQLite file in the data directory. The server closes it.
   */
  openedStore?: Store;
  /** The lease's time to live; default 10 s. */
  leaseMs?: number;
  /** This instance's name in the cluster; default `<hostname>-<pid>-<4 hex>`. */
  instance?: string;
  /** How long a follower's command waits for the leader before answering 202; default 10 s. */
  commandWaitMs?: number;
  /**
   * `serve --workers`: the users' requests are carried by this machine's cluster workers,
   * each a fleet router, so the process serves the fleet (its state, its reports, the fleet
   * provider and metrics) whatever engine the spec names, binds no data-plane socket itself,
   * and accepts `routerToken` as a router token for this run only.
   */
  workers?: { routerToken: string };
  /**
   * Called once the admin API listens, before this instance joins the election (`serve
   * --workers` starts its workers here, so the first term's controller finds them serving).
   */
  beforeElection?: (admin: ListenAddress) => Promise<void>;
}

export interface RunningAviary {
  router: Router;
  metrics: MetricsRegistry;
  /** The leader's controller while this instance leads; else one that only reads. */
  readonly controller: Controller;
  /** This instance's place in the cluster: leadership, the command bus. */
  cluster: Cluster;
  store: Store;
  /** Every committed event and measurement, as it happens. */
  hub: EventHub;
  admin: FastifyInstance;
  listen: ListenAddress;
  adminAddress: ListenAddress;
  /** The engine's access-log listener (external engines only). */
  logs: LogListener | undefined;
  /** The flags of the applied spec, as this instance serves them. */
  flags: ServedFlags;
  /** Per-variant windows of what applications track (the OFREP listener's tracking route). */
  flagWindows: FlagWindows;
  /** The OFREP listener, when the spec has an `ofrep` section. */
  ofrep: OfrepServer | undefined;
  /** The fleet's part (engine fleet, or `workers`): its board and merged figures. */
  fleet: FleetControlPlane | undefined;
  /** Where the operator token came from (env or file); never the token itself. */
  tokenSource: string;
  /** The tokens file the admin API re-reads when it changes. */
  tokensFile: string;
  /**
   * Applies a changed spec (the listen addresses stay as they are). On a follower it is handed
   * to the leader as an apply command: `text` is the file's text, which the leader parses.
   */
  reload(spec: Spec, text?: string): Promise<SpecChange[]>;
  /**
   * Stops everything and releases the lease, so another instance takes over at once. With
   * `release: false` the lease is left to expire, as after a crash (tests of the takeover).
   */
  close(opts?: { release?: boolean }): Promise<void>;
}

export async function startAviary(opts: AviaryOptions): Promise<RunningAviary> {
  const clock = opts.clock ?? systemClock;
  const specSource = opts.specSource ?? "spec";
  const listen = parseListenAddress(opts.listen ?? opts.spec.listen);
  const adminAt = parseListenAddress(opts.admin ?? opts.spec.admin);
  if (listen === undefined) throw new Error(`invalid listen address ${opts.listen}`);
  if (adminAt === undefined) throw new Error(`invalid admin address ${opts.admin}`);
  checkListenAddresses(listen, adminAt);
  const ofrepAt = opts.spec.ofrep && parseListenAddress(opts.spec.ofrep.listen);
  if (ofrepAt !== undefined) checkOfrepAddress(ofrepAt, listen, adminAt);
  // Said once at start, so that flags declared in the spec are not taken for flags served.
  if (opts.spec.flags.length > 0 && ofrepAt === undefined)
    opts.log.warn(
      { flags: opts.spec.flags.map((f) => f.key) },
      "the spec declares feature flags but no ofrep.listen: they are stored, and no client can evaluate them (docs/feature-flags.md)",
    );
  const dataplane = dataplaneInForce(opts.spec.dataplane, opts.workers !== undefined);

  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  // Tokens first: a tokens file with a bad line stops the start, naming file:line, before
  // anything is opened or bound.
  const { token, source } = loadOperatorToken(opts.dataDir);
  const tokens = new TokenRegistry({
    operatorToken: token,
    file: resolve(opts.dataDir, opts.spec.auth.tokensFile),
    clock,
    log: opts.log,
    ...(opts.workers
      ? {
          runTokens: [
            { token: opts.workers.routerToken, identity: { name: "workers", role: "router" } },
          ],
        }
      : {}),
  });
  // Secrets of notifications are read now, once: a missing one stops the start, naming it, and a
  // term started later cannot fail on one. Those of gates are the controller's check on every
  // spec (see validate below).
  const notificationTargets = readNotificationTargets(opts.spec.notifications);
  const store =
    opts.openedStore ??
    openSqliteStore(join(opts.dataDir, "aviary.db"), {
      synchronous: sqliteSynchronous(dataplane),
      ...opts.store,
    });
  // How far back every per-version and per-variant window reaches (the spec's metrics.window).
  const metricsWindowMs = parseDuration(opts.spec.metrics.window) as number;
  const metrics = new MetricsRegistry({
    windowMs: metricsWindowMs,
    clock,
  });
  const router = new Router({
    metrics,
    proxy: opts.spec.proxy,
    log: opts.log,
    clock,
    retainRetiredMs: metricsWindowMs,
    startsClosed: true,
  });
  const hub = new EventHub((err) =>
    opts.log.error({ err: String(err) }, "an event subscriber failed"),
  );
  // engine fleet: routers pull the state from the store through the API and report back.
  const fleet = startFleetControlPlane({
    spec: { ...opts.spec, dataplane },
    store,
    clock,
    log: opts.log,
  });
  const flags = new ServedFlags({ store, log: opts.log });
  // Flags with a strategy are rolled out as subjects of their own, served by the flags.
  const flagTraffic = new FlagTrafficProvider(flagSink(flags));
  const traffic = new BySubject(
    createTrafficProvider(dataplane, {
      router,
      clock,
      log: opts.log,
      ...(fleet ? { fleet: fleet.traffic } : {}),
    }),
    flagTraffic,
  );
  // The hub is fed from the store (every instance publishes every committed event once, in
  // order): a controller's own commits only wake the tail, they never reach the hub directly.
  const tail = new StoreTail({ store, hub, clock: systemClock, log: opts.log });
  const tickMs = parseDuration(opts.spec.controller.tick) as number;
  // What applications report per variant through the OFREP listener's tracking route; the
  // analysis reads a flag:<key> subject from it as it reads a service from the router.
  const flagWindows = new FlagWindows({
    windowMs: metricsWindowMs,
    clock,
  });
  const offRetain = flags.onUpdate((set) => flagWindows.retain(set.flags));
  const analysisMetrics = flagAwareSource(metrics, flagWindows);
  const controllerOn = (s: Store) =>
    new Controller({
      store: s,
      hub: { publish: () => tail.poke() },
      router: traffic,
      // The engine's split is checked against the same per-version counts the analysis reads.
      split:
        fleet?.split ??
        // A flag's share of evaluations depends on how often each user asks, not on a split.
        ((service, version, from, to) =>
          isFlagSubject(service) ? 0 : metrics.query({ service, version, from, to }).requests),
      clock,
      log: opts.log,
      tickMs,
      ...(opts.faults ? { faults: opts.faults } : {}),
      analysis: {
        providerFor: (metric) =>
          createMetricProvider(metric.provider, {
            metrics: analysisMetrics,
            flags: flagWindows,
            ...fleet?.metricDeps,
          }),
        judgeFor: createJudge,
      },
      gateCaller: (gate, payload, signal) => callGate(gate, payload, { signal }),
      // Secrets of gates are read before a spec is applied (at start, on a reload, on an apply):
      // a missing one refuses the spec, naming it, rather than surfacing at the first rollback.
      validate: checkGateHooks,
      onSpecCommitted: () => flags.refresh(),
    });
  const notifyOn = (fenced: Store) =>
    startNotifying(fenced, {
      targets: notificationTargets,
      spec: opts.spec,
      hub,
      startAfter: () => tail.eventSeq,
      clock,
      log: opts.log,
      metrics,
      versionsOf: async (id) => {
        const r = await store.getRollout(id);
        return r && { stable: r.stable.version, canary: r.canary.version };
      },
    });
  // Never started: its reads are store reads, which any instance answers.
  const reader = controllerOn(store);
  let leading: Controller | undefined;
  const ttlMs = opts.leaseMs ?? 10_000;
  const cluster = new Cluster({
    store,
    instance: opts.instance ?? instanceIdentity(),
    ttlMs,
    // Leases are about real processes and real time, whatever clock the rollouts run on.
    clock: systemClock,
    log: opts.log,
    tickMs,
    ...(opts.commandWaitMs !== undefined ? { commandWaitMs: opts.commandWaitMs } : {}),
    describe: (err) => {
      const p = problemOf(err);
      return {
        code: p.code,
        message: p.detail,
        status: p.status,
        ...(p.problems ? { details: p.problems } : {}),
      };
    },
    startTerm: async (fenced, epoch) => {
      const run = await specToRun(
        store,
        opts.spec,
        specSource,
        opts.openedStore !== undefined,
        opts.log,
      );
      const controller = controllerOn(fenced);
      try {
        await controller.start(
          run.services,
          run.templates,
          run.source,
          run.previous,
          run.flags,
          run.previousFlags,
        );
      } catch (err) {
        await controller.stop();
        throw err;
      }
      let notifying: Awaited<ReturnType<typeof notifyOn>>;
      try {
        notifying = await notifyOn(fenced);
      } catch (err) {
        await controller.stop();
        throw err;
      }
      // Followers show the data plane's status as this leader records it.
      const statuses = new TrafficStatusPublisher({
        store: fenced,
        statuses: () => controller.trafficStatuses(),
        instance: cluster.instance,
        clock,
        timer: systemClock,
        everyMs: tickMs,
        log: opts.log,
      });
      statuses.start();
      leading = controller;
      opts.log.info({ epoch, services: run.services.length }, "rollouts resumed");
      return {
        execute: commandExecutor(controller),
        committedAnswer: committedAnswer(controller),
        stop: async () => {
          if (leading === controller) leading = undefined;
          await Promise.all([notifying.stop(), statuses.stop(), controller.stop()]);
          // The next leader moves the flags' rollouts: this instance serves them from the store.
          flagTraffic.release();
        },
      };
    },
  });
  const admin = createAdminServer({
    metrics,
    metricsWindowMs,
    controller: clusterReads(reader, () => leading, { store, instance: cluster.instance }),
    commands: cluster.commands,
    cluster,
    store,
    hub,
    tokens,
    anonymousRead: opts.spec.auth.anonymousRead,
    clock,
    log: opts.log,
    ...(opts.streams ? { streams: opts.streams } : {}),
    ...opts.adminLimits,
    ...(fleet ? { fleet: fleet.api } : {}),
    // Charts read what the analysis reads: a flag:<key> subject from the tracked counts, a
    // service from this process's registry or, with a fleet, the routers' merged figures.
    windows: flagAwareSource(fleet?.metrics ?? metrics, flagWindows),
  });

  // An external engine's access log feeds the same per-version windows the embedded router
  // fills; only versions the store names are recorded (KnownVersions).
  let logs: LogListener | undefined;
  let ofrep: OfrepServer | undefined;
  let tracking: TrackingShare | undefined;
  const closeAll = async (how: { release?: boolean } = {}) => {
    await logs?.close();
    await ofrep?.close();
    await tracking?.close();
    offRetain();
    flags.close();
    // Stops the term (if leading) and releases the lease: another instance takes over at once.
    await cluster.close(how);
    await tail.close();
    await traffic.close();
    fleet?.close();
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
    await tail.start();
    await flags.start();
    // Every socket is bound before this instance joins the election: one that cannot serve
    // (a port taken) must not take the lease, start a term and hand it back at once.
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
    boundListen = servesInProcess(dataplane) ? await router.listen(listen) : listen;
    boundAdmin = await listenAdmin(admin, adminAt);
    if (ofrepAt !== undefined)
      ofrep = await startOfrep(
        {
          flags,
          tokens,
          clock,
          log: opts.log,
          prometheus: metrics.prometheus,
          ...(opts.spec.ofrep?.rateLimit ? { rateLimit: opts.spec.ofrep.rateLimit } : {}),
          tracking: { windows: flagWindows },
          ...opts.ofrepLimits,
        },
        ofrepAt,
      );
    // What reached this instance's tracking route, for the leader's analysis (and the others').
    if (ofrepAt !== undefined)
      tracking = startTrackingShare({
        store,
        windows: flagWindows,
        instance: cluster.instance,
        flags: () => flags.current,
        windowMs: metricsWindowMs,
        clock,
        log: opts.log,
      });
    await opts.beforeElection?.(boundAdmin);
    await cluster.start();
    router.open();
  } catch (err) {
    await closeAll();
    throw err;
  }
  return {
    router,
    metrics,
    get controller() {
      return leading ?? reader;
    },
    cluster,
    store,
    hub,
    admin,
    listen: boundListen,
    adminAddress: boundAdmin,
    logs,
    flags,
    flagWindows,
    ofrep,
    fleet,
    tokenSource: source,
    tokensFile: tokens.file,
    // All or nothing (see Controller.applySpec): a refused spec rejects and changes nothing.
    reload: async (spec, text) => {
      if (leading !== undefined)
        return leading.applySpec(spec.services, "spec", {
          dryRun: false,
          templates: spec.analysisTemplates,
          flags: spec.flags,
          source: specSource,
        });
      const answer = await cluster.commands.submit({
        kind: "apply",
        service: null,
        args: {
          spec: text ?? readFileSync(specSource, "utf8"),
          file: specSource,
          dryRun: false,
          source: specSource,
        },
        actor: "spec",
      });
      if (!answer.done)
        throw new AviaryError(
          "AVIARY_PENDING",
          `the leader has not applied it yet; follow command ${answer.id}`,
        );
      return (answer.result as { changes: SpecChange[] }).changes;
    },
    close: closeAll,
  };
}

/**
 * The engine this process drives: the spec's, except that `serve --workers` makes it the
 * fleet's (the workers are routers; the spec may still say `embedded`, what one process would
 * be without the flag).
 */
function dataplaneInForce(spec: Spec["dataplane"], workers: boolean): Spec["dataplane"] {
  return workers ? { ...spec, engine: "fleet" } : spec;
}

/**
 * The webhooks of one term: only the leader sends, from the notification cursor in the store
 * on (see NotificationFeed), woken by every event the hub publishes. Stopping drops what is
 * still queued without moving the cursor, so the next leader sends it.
 */
async function startNotifying(
  fenced: Store,
  deps: {
    targets: readonly NotificationTarget[];
    spec: Spec;
    hub: EventHub;
    startAfter: () => number;
    clock: Clock;
    log: Logger;
    metrics: MetricsRegistry;
    versionsOf: (rolloutId: string) => Promise<{ stable: string; canary: string } | undefined>;
  },
): Promise<{ stop(): Promise<void> }> {
  const notifier = startNotifier({
    notifications: deps.spec.notifications,
    targets: deps.targets,
    clock: deps.clock,
    log: deps.log,
    prometheus: deps.metrics.prometheus,
    versionsOf: deps.versionsOf,
  });
  const feed = new NotificationFeed({
    store: fenced,
    send: notifier.send,
    startAfter: deps.startAfter,
    // The poll is about real time, whatever clock the rollouts run on (as the tail's).
    clock: systemClock,
    log: deps.log,
  });
  const off = deps.hub.subscribe((m) => {
    if (m.kind === "event") feed.poke();
  });
  try {
    await feed.start();
  } catch (err) {
    off();
    await feed.stop();
    await notifier.close();
    throw err;
  }
  return {
    async stop() {
      off();
      // The feed first: deliveries the deliverer drops as it closes must not move the cursor.
      await feed.stop();
      await notifier.close();
    },
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
 * - `serve --workers` (FULL, as external: the engine in force is then `fleet`): the workers
 *   fsync every state they take to their own data directories and never go back, so a store
 *   that lost its last commits in a power cut would be behind what they serve.
 */
export function sqliteSynchronous(dataplane: Spec["dataplane"]): "full" | "normal" {
  return servesInProcess(dataplane) ? "normal" : "full";
}

/**
 * The spec a new leader runs, and the spec applied before it (what its changes are measured
 * against, so a takeover changes nothing by itself):
 * - nothing stored: this instance's file, with no previous spec;
 * - a store of one machine (SQLite) and a file that differs from the applied spec: the file,
 *   as a SIGHUP would apply it (an edit made while Aviary was stopped takes effect at start,
 *   as it always has; instances sharing one SQLite file are on one machine and read one file);
 * - otherwise the applied spec in the store (the cluster's, whichever instance applied it
 *   last). A file that differs is said in the log: on a shared store, instances may hold
 *   different files, and a new leader must not undo what `aviary apply` did.
 */
async function specToRun(
  store: Store,
  own: Spec,
  ownSource: string,
  sharedStore: boolean,
  log: Logger,
): Promise<{
  services: Service[];
  templates: AnalysisTemplate[];
  flags: Flag[];
  source: string;
  previous?: Service[];
  previousFlags?: Flag[];
}> {
  const stored = await store.getAppliedSpec();
  const mine = JSON.parse(
    JSON.stringify(
      appliedDocument({
        services: own.services,
        templates: own.analysisTemplates,
        flags: own.flags,
      }),
    ),
  ) as unknown;
  const ownRun = {
    services: own.services,
    templates: own.analysisTemplates,
    flags: own.flags,
    source: ownSource,
  };
  if (stored === undefined) return ownRun;
  const applied = stored.spec as {
    services: Service[];
    analysisTemplates?: AnalysisTemplate[];
    flags?: Flag[];
  };
  const runApplied = {
    services: applied.services,
    templates: applied.analysisTemplates ?? [],
    flags: applied.flags ?? [],
    source: stored.source,
    previous: applied.services,
    previousFlags: applied.flags ?? [],
  };
  if (sameJson(applied, mine)) return runApplied;
  if (!sharedStore) {
    log.info(
      { file: ownSource, applied: stored.source, revision: stored.revision },
      "the spec file differs from the applied spec; applying the file",
    );
    return { ...ownRun, previous: applied.services, previousFlags: applied.flags ?? [] };
  }
  log.warn(
    { file: ownSource, applied: stored.source, revision: stored.revision },
    "this instance's spec file differs from the applied spec in the store; running the applied spec (aviary apply changes it)",
  );
  return runApplied;
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
