/**
 * The rollout controller: drives every rollout through the state machine in `machine.ts`,
 * event by event (a timer fired, a tick, an operator command, a spec change). Each transition
 * is committed to the store — rollout, service traffic and history event in one transaction —
 * before the router is told the new desired state, so a crash at any point resumes from the
 * last committed transition and re-applying its traffic state is harmless.
 *
 * Work for one service is serialized; different services proceed independently.
 *
 * @module
 */

import { type AnalysisDeps, type AnalysisFacts, AnalysisManager } from "../analysis/manager.js";
import { AviaryError } from "../errors.js";
import type { EventHub } from "../events/hub.js";
import type { TrafficProvider } from "../providers/traffic/provider.js";
import { servedOf, trafficDrift } from "../providers/traffic/served.js";
import type { AnalysisTemplate, Service, Version } from "../spec/schema.js";
import type { AnalysisRunRecord, MeasurementRecord, Store, StoreTx } from "../store/store.js";
import type { Clock, TimerHandle } from "../util/clock.js";
import { newId } from "../util/id.js";
import type { Logger } from "../util/log.js";
import { type GateAnswerEvent, type GateCaller, GatePoller, payloadFor } from "./gate-poller.js";
import { postRolloutGates } from "./gates.js";
import {
  abortCommand,
  CommandError,
  checkRetry,
  enterStep,
  isTerminal,
  openGateCommand,
  pauseCommand,
  promoteCommand,
  reconcile,
  resumeCommand,
  type Transition,
} from "./machine.js";
import { planSpecChanges, type SpecChange } from "./spec-changes.js";
import { type ResolvedStrategy, resolveStrategy } from "./steps.js";
import { sameVersion, stableOnly, trafficFromSpec } from "./traffic.js";
import type { Actor, Rollout, RolloutEvent, ServiceState, TrafficState } from "./types.js";

export interface ControllerOptions {
  store: Store;
  router: TrafficProvider;
  clock: Clock;
  log: Logger;
  /** How often every active rollout is re-checked (targets down, deadlines). */
  tickMs?: number;
  /** Told of every history event once it is committed, and of every analysis measurement. */
  hub?: EventHub;
  /** Fault-injection seams for crash tests: just before a transition commits, and just after (before its effect). */
  faults?: { beforeCommit?: () => void; afterCommit?: () => void };
  /** Where analysis metrics come from and who judges them; without it, analysis steps abort. */
  analysis?: Pick<AnalysisDeps, "providerFor" | "judgeFor">;
  /** Calls gate hooks; without it, gates open only through the API. */
  gateCaller?: GateCaller;
  /**
   * What a spec must pass before any of it is applied, beyond the schema (a gate's secret read
   * from the environment): throws to refuse the whole spec.
   */
  validate?: (services: readonly Service[]) => void;
}

/** An event a spec's transaction wrote, and the rollout it moved (if any), for the effects after the commit. */
interface Written {
  event: RolloutEvent;
  rollout: Rollout | undefined;
}

/** Most transitions one reconcile pass makes before yielding (a guard against a loop). */
const MAX_TRANSITIONS_PER_PASS = 64;

export class Controller {
  readonly #store: Store;
  readonly #router: TrafficProvider;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #tickMs: number;
  readonly #hub: EventHub | undefined;
  readonly #faults: { beforeCommit?: () => void; afterCommit?: () => void };
  readonly #specs = new Map<string, Service>();
  #templates: readonly AnalysisTemplate[] = [];
  readonly #analysis: AnalysisManager | undefined;
  readonly #gates: GatePoller;
  readonly #gateCaller: GateCaller | undefined;
  readonly #timers = new Map<string, TimerHandle>();
  readonly #queues = new Map<string, Promise<unknown>>();
  readonly #validate: ((services: readonly Service[]) => void) | undefined;
  /** Spec applications, one at a time (a SIGHUP and an API apply never interleave). */
  #applying: Promise<unknown> = Promise.resolve();
  #ticker: TimerHandle | undefined;
  #stopped = false;

  constructor(opts: ControllerOptions) {
    this.#store = opts.store;
    this.#router = opts.router;
    this.#clock = opts.clock;
    this.#log = opts.log;
    this.#tickMs = opts.tickMs ?? 1_000;
    this.#hub = opts.hub;
    this.#faults = opts.faults ?? {};
    this.#gateCaller = opts.gateCaller;
    this.#validate = opts.validate;
    this.#gates = new GatePoller({
      caller: opts.gateCaller,
      clock: this.#clock,
      log: this.#log,
      onAnswer: (e) => this.#onGateAnswer(e),
    });
    const engine = opts.analysis;
    this.#analysis = engine
      ? new AnalysisManager({
          ...engine,
          store: this.#store,
          clock: this.#clock,
          log: this.#log,
          onChange: (service) => this.#kick(service),
          onMeasurement: (r, m) =>
            this.#hub?.publish({
              kind: "measurement",
              service: r.service,
              rolloutId: r.id,
              runId: m.runId,
              measurement: m,
            }),
        })
      : undefined;
  }

  /**
   * Takes over: brings stored state in line with the spec, has the router (which may have
   * restarted empty) serve every service's stored traffic, and resumes every active rollout
   * where it stood.
   */
  async start(
    services: readonly Service[],
    templates: readonly AnalysisTemplate[] = [],
  ): Promise<SpecChange[]> {
    const changes = await this.applySpec(services, "controller", { dryRun: false, templates });
    for (const r of this.#store.activeRollouts()) this.#kick(r.service);
    this.#scheduleTick();
    return changes;
  }

  /** Stops timers; the router keeps serving the last state it was given. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#ticker?.cancel();
    for (const t of this.#timers.values()) t.cancel();
    this.#analysis?.shutdown();
    this.#gates.close();
    this.#timers.clear();
    await Promise.allSettled([...this.#queues.values()]);
  }

  // ---- reads ----

  services(): ServiceState[] {
    return this.#store.listServices();
  }

  service(name: string): ServiceState {
    const state = this.#store.getService(name);
    if (state === undefined) throw this.#unknown(name);
    return state;
  }

  spec(name: string): Service | undefined {
    return this.#specs.get(name);
  }

  /** The service's current rollout (active, or the last one), if any. */
  rollout(service: string): Rollout | undefined {
    const id = this.service(service).rolloutId;
    return id === null ? undefined : this.#store.getRollout(id);
  }

  /** The analysis runs of the service's current rollout with their measurements, oldest first. */
  analysis(service: string): Array<AnalysisRunRecord & { measurements: MeasurementRecord[] }> {
    const r = this.rollout(service);
    if (r === undefined) return [];
    return this.#store
      .analysisRunsOf(r.id)
      .map((run) => ({ ...run, measurements: this.#store.measurementsOf(run.id) }));
  }

  /** A service's history; a service removed from the spec keeps it. */
  history(service: string, opts: { afterSeq?: number; limit?: number } = {}): RolloutEvent[] {
    if (this.#store.getService(service) === undefined && !this.#hasHistory(service))
      throw this.#unknown(service);
    return this.#store.eventsOf(service, opts);
  }

  // ---- commands ----

  /** Starts a rollout of `canary` for `service`; a newer canary supersedes an active rollout. */
  deploy(service: string, canary: Version, actor: Actor): Promise<Rollout> {
    return this.#serial(service, async () => {
      const spec = this.#specOrThrow(service);
      const r = await this.#startRollout(spec, canary, actor);
      await this.#drive(service);
      return this.#store.getRollout(r.id) as Rollout;
    });
  }

  promote(service: string, full: boolean, actor: Actor): Promise<Rollout> {
    return this.#command(service, actor, (r, now) => promoteCommand(r, now, full, actor));
  }

  pause(service: string, actor: Actor): Promise<Rollout> {
    return this.#command(service, actor, (r, now) => pauseCommand(r, now, actor));
  }

  resume(service: string, actor: Actor): Promise<Rollout> {
    return this.#command(service, actor, (r, now) => resumeCommand(r, now, actor));
  }

  /** Canary to 0 % at once: no analysis, no gate, one commit and one router call. Idempotent. */
  abort(service: string, actor: Actor, why?: string): Promise<Rollout> {
    return this.#command(service, actor, (r, now) => abortCommand(r, now, actor, why));
  }

  /** Opens a gate the rollout waits at (or, for a rollback gate, rolls it back). */
  openGate(service: string, gate: string, actor: Actor): Promise<Rollout> {
    return this.#command(service, actor, (r, now) => openGateCommand(r, now, gate, actor));
  }

  /** Starts an aborted rollout's canary again from step 0, as a new attempt with its own id and analyses. */
  retry(service: string, actor: Actor): Promise<Rollout> {
    return this.#serial(service, async () => {
      const last = this.rollout(service);
      if (last === undefined)
        throw new CommandError("AVIARY_NO_ROLLOUT", `${service} has no rollout`);
      checkRetry(last);
      const r = await this.#startRollout(this.#specOrThrow(service), last.canary, actor, last.id);
      await this.#drive(service);
      return this.#store.getRollout(r.id) as Rollout;
    });
  }

  /** Puts the previous stable version back after a promotion, at once. */
  undo(service: string, actor: Actor): Promise<ServiceState> {
    return this.#serial(service, async () => {
      const state = this.service(service);
      const current =
        state.rolloutId === null ? undefined : this.#store.getRollout(state.rolloutId);
      if (current !== undefined && !isTerminal(current)) {
        throw new CommandError(
          "AVIARY_ROLLOUT_ACTIVE",
          `a rollout of ${current.canary.version} is in progress: abort it before undo`,
        );
      }
      const previous = state.previousStable;
      if (previous === null)
        throw new CommandError(
          "AVIARY_NOTHING_TO_UNDO",
          `${service} has no previous stable version to go back to`,
        );
      const now = this.#clock.now();
      const traffic = stableOnly({ ...state.traffic, stable: previous });
      const reason = `undo by ${actor}: ${state.traffic.stable.version} → ${previous.version}`;
      const next: ServiceState = {
        ...state,
        traffic,
        previousStable: state.traffic.stable,
        updatedAt: now,
      };
      this.#commitService(next, {
        type: "undo",
        actor,
        reason,
        data: { from: state.traffic.stable.version, to: previous.version },
      });
      await this.#router.apply(service, traffic);
      return next;
    });
  }

  /**
   * Brings the services in line with a spec: new services are created, a new canary starts a
   * rollout, a removed canary aborts one, target and static-weight changes apply at once, and a
   * service the spec no longer names is removed (its rollout aborted, its history kept).
   *
   * All or nothing: everything that can refuse the spec is checked first, touching nothing;
   * then every store write goes in one transaction; only then do the controller and the router
   * take the new spec, the router in one swap. A refused spec leaves store, controller and
   * router as they were. With dryRun, only says what it would do (after the same checks).
   */
  applySpec(
    services: readonly Service[],
    actor: Actor,
    opts: { dryRun: boolean; templates?: readonly AnalysisTemplate[] },
  ): Promise<SpecChange[]> {
    const run = this.#applying.then(() => this.#applySpecNow(services, actor, opts));
    this.#applying = run.catch(() => undefined);
    return run;
  }

  // ---- internals ----

  async #applySpecNow(
    services: readonly Service[],
    actor: Actor,
    opts: { dryRun: boolean; templates?: readonly AnalysisTemplate[] },
  ): Promise<SpecChange[]> {
    const storedNames = () => this.#store.listServices().map((s) => s.name);
    // Every service the spec, the controller or the store knows: their own work (a step, a
    // command) finishes first and waits for this, so the plan is made on what is committed.
    const touched = new Set([
      ...services.map((s) => s.name),
      ...this.#specs.keys(),
      ...storedNames(),
    ]);
    return this.#serialAll([...touched], async () => {
      const changes = planSpecChanges(
        services,
        this.#specs,
        (name) => this.#currentOf(name),
        storedNames(),
      );
      this.#validate?.(services);
      if (opts.dryRun) return changes;
      const templates = opts.templates ?? this.#templates;
      const { written, started } = this.#commitSpec(
        changes,
        new Map(services.map((s) => [s.name, s])),
        templates,
        actor,
      );
      this.#templates = templates;
      this.#specs.clear();
      for (const svc of services) this.#specs.set(svc.name, svc);
      for (const w of written) this.#afterCommit(w.event, w.rollout);
      await this.#configureRouter(services);
      for (const name of started) await this.#driveOrLog(name);
      return changes;
    });
  }

  /**
   * Writes every change of a spec in one transaction. Builds on what the transaction itself
   * has written (a service created, then its rollout started), so one change's precondition
   * failing rolls back all of them.
   */
  #commitSpec(
    changes: readonly SpecChange[],
    specs: ReadonlyMap<string, Service>,
    templates: readonly AnalysisTemplate[],
    actor: Actor,
  ): { written: Written[]; started: string[] } {
    const now = this.#clock.now();
    const written: Written[] = [];
    const started = new Set<string>();
    this.#store.transaction((tx) => {
      // The crash tests count events: each is a commit point, even when several share one
      // transaction (a kill before any of them loses them all, which is what a crash does).
      const transition = (t: Transition) => {
        this.#faults.beforeCommit?.();
        written.push({ event: this.#writeTransition(tx, t, actor), rollout: t.rollout });
      };
      const serviceEvent = (state: ServiceState, e: ServiceEventInput) => {
        this.#faults.beforeCommit?.();
        written.push({ event: this.#writeService(tx, state, e), rollout: undefined });
      };
      const specOf = (name: string) => specs.get(name) ?? this.#throwUnknown(name);
      for (const change of changes) {
        switch (change.kind) {
          case "create": {
            const spec = specOf(change.service);
            const state: ServiceState = {
              name: spec.name,
              traffic: spec.strategy ? stableOnly(trafficFromSpec(spec)) : trafficFromSpec(spec),
              rolloutId: null,
              previousStable: null,
              updatedAt: now,
            };
            tx.recordVersion(spec.name, spec.stable.version, spec.stable.targets, now);
            serviceEvent(state, {
              type: "service.created",
              actor,
              reason: change.summary,
              data: { stable: spec.stable.version },
            });
            if (spec.strategy && spec.canary) {
              const start = this.#rolloutStart(tx, spec, spec.canary, actor, now, templates);
              start.transitions.forEach(transition);
              started.add(spec.name);
            }
            break;
          }
          case "deploy": {
            const start = this.#rolloutStart(
              tx,
              specOf(change.service),
              change.canary,
              actor,
              now,
              templates,
            );
            start.transitions.forEach(transition);
            started.add(change.service);
            break;
          }
          case "abort": {
            const r = currentRollout(tx, change.service);
            const t = r && abortCommand(r, now, actor, change.summary);
            if (t) transition(t);
            break;
          }
          case "traffic": {
            const state = tx.getService(change.service) ?? this.#throwUnknown(change.service);
            const traffic = change.traffic;
            tx.recordVersion(state.name, traffic.stable.version, traffic.stable.targets, now);
            serviceEvent(
              { ...state, traffic, updatedAt: now },
              { type: "traffic.set", actor, reason: change.summary, data: {} },
            );
            break;
          }
          case "config":
            // The router takes the new configuration with the new spec.
            break;
          case "remove": {
            const r = currentRollout(tx, change.service);
            if (r !== undefined && !isTerminal(r)) {
              const why = `${change.service} was removed from the spec`;
              const t = abortCommand(r, now, actor, why);
              if (t) transition(t);
            }
            const state = tx.getService(change.service);
            if (state === undefined) break;
            serviceEvent(state, {
              type: "service.removed",
              actor,
              reason: change.summary,
              data: { stable: state.traffic.stable.version },
            });
            tx.deleteService(change.service);
            break;
          }
        }
      }
    });
    for (const _ of written) this.#faults.afterCommit?.();
    return { written, started: [...started] };
  }

  /** The router serves exactly the spec's services, each with its committed traffic, in one swap. */
  async #configureRouter(services: readonly Service[]): Promise<void> {
    const traffic = new Map<string, TrafficState>();
    for (const svc of services) {
      const state = this.#store.getService(svc.name);
      if (state !== undefined) traffic.set(svc.name, state.traffic);
    }
    try {
      await this.#router.configure(services, traffic);
    } catch (err) {
      // Only a bug gets here (the spec was validated): the router kept its previous plan.
      this.#log.error(
        { err: String(err) },
        "the router refused a committed spec; it serves the previous one until the next apply",
      );
      throw err;
    }
  }

  #currentOf(name: string): { state: ServiceState | undefined; rollout: Rollout | undefined } {
    const state = this.#store.getService(name);
    const rollout = state?.rolloutId ? this.#store.getRollout(state.rolloutId) : undefined;
    return { state, rollout };
  }

  async #startRollout(
    spec: Service,
    canary: Version,
    actor: Actor,
    retryOf?: string,
  ): Promise<Rollout> {
    const now = this.#clock.now();
    const start = this.#rolloutStart(
      this.#store,
      spec,
      canary,
      actor,
      now,
      this.#templates,
      retryOf,
    );
    for (const t of start.transitions) await this.#commitAndApply(t, actor);
    return start.rollout;
  }

  /**
   * The transitions that start a rollout of `canary`: the active rollout superseded (if any),
   * then the new one at its first step. Reads through `tx`, so within a spec's transaction it
   * sees the service that transaction created; records the canary's version there too.
   */
  #rolloutStart(
    tx: StoreTx,
    spec: Service,
    canary: Version,
    actor: Actor,
    now: number,
    templates: readonly AnalysisTemplate[],
    retryOf?: string,
  ): { transitions: Transition[]; rollout: Rollout } {
    if (spec.strategy === undefined) {
      throw new CommandError(
        "AVIARY_NO_STRATEGY",
        `${spec.name} has no strategy in its spec: add strategy.steps to roll out new versions`,
      );
    }
    const state = tx.getService(spec.name) ?? this.#throwUnknown(spec.name);
    if (canary.version === state.traffic.stable.version) {
      throw new CommandError(
        "AVIARY_SAME_VERSION",
        `${canary.version} is already the stable version of ${spec.name}`,
      );
    }
    const transitions: Transition[] = [];
    const current = state.rolloutId ? tx.getRollout(state.rolloutId) : undefined;
    if (current && !isTerminal(current)) {
      if (sameVersion(current.canary, canary)) return { transitions, rollout: current };
      const superseded = abortCommand(current, now, actor, `superseded by ${canary.version}`);
      if (superseded) transitions.push(superseded);
    }
    const base: Rollout = {
      id: newId(now),
      service: spec.name,
      stable: state.traffic.stable,
      canary,
      phase: "Progressing",
      reason: "",
      stepIndex: 0,
      stepStartedAt: now,
      progressSince: now,
      pausedAt: null,
      traffic: { stable: state.traffic.stable, canary, weight: 0, headerRoutes: [], mirror: null },
      strategy: resolveStrategy(spec.strategy, templates),
      gates: { passed: [], waiting: null },
      createdAt: now,
      updatedAt: now,
      finishedAt: null,
      revision: 0,
    };
    const rollout = enterStep(base, 0, now);
    const what = retryOf ? `retry of rollout ${retryOf}` : "rollout";
    const reason = `${what} of ${canary.version} started by ${actor} (stable ${state.traffic.stable.version}); ${rollout.reason}`;
    tx.recordVersion(spec.name, canary.version, canary.targets, now);
    const data = {
      stable: state.traffic.stable.version,
      canary: canary.version,
      ...(retryOf ? { retryOf } : {}),
    };
    transitions.push({
      rollout,
      event: { type: retryOf ? "rollout.retried" : "rollout.started", reason, data },
    });
    return { transitions, rollout };
  }

  #command(
    service: string,
    actor: Actor,
    run: (r: Rollout, now: number) => Transition | null,
  ): Promise<Rollout> {
    return this.#serial(service, async () => {
      const r = this.rollout(service);
      if (r === undefined) throw new CommandError("AVIARY_NO_ROLLOUT", `${service} has no rollout`);
      const t = run(r, this.#clock.now());
      if (t !== null) await this.#commitAndApply(t, actor);
      await this.#drive(service);
      return this.#store.getRollout(r.id) as Rollout;
    });
  }

  /** Runs the machine for the service's rollout until it has to wait; schedules the wake-up. */
  async #drive(service: string): Promise<void> {
    for (let i = 0; i < MAX_TRANSITIONS_PER_PASS; i++) {
      // A service removed from the spec has no rollout to drive (its last one was aborted).
      const r = currentRollout(this.#store, service);
      if (r === undefined || isTerminal(r)) {
        if (r) this.#cancelTimer(r.id);
        return;
      }
      const facts = {
        now: this.#clock.now(),
        canaryAvailable: this.#router.canaryAvailable(service),
        inSync:
          trafficDrift(servedOf(r.traffic), (await this.#router.observe()).get(service)) ===
          undefined,
        analysis: this.#analysis?.facts(r) ?? noAnalysisEngine(r),
      };
      const step = reconcile(r, facts);
      if (step.kind === "transition") {
        await this.#commitAndApply(step.transition, "controller");
        continue;
      }
      this.#cancelTimer(r.id);
      if (step.wakeAt !== null && !this.#stopped) {
        const delay = Math.max(0, step.wakeAt - this.#clock.now());
        this.#timers.set(
          r.id,
          this.#clock.setTimeout(() => this.#kick(service), delay),
        );
      }
      return;
    }
    this.#log.error(
      { service },
      "rollout made too many transitions in one pass; will continue on the next tick",
    );
  }

  /** Commits a transition (rollout, service traffic, history event), then applies its traffic. */
  async #commitAndApply(t: Transition, actor: Actor): Promise<void> {
    this.#faults.beforeCommit?.();
    const event = this.#store.transaction((tx) => this.#writeTransition(tx, t, actor));
    this.#faults.afterCommit?.();
    this.#afterCommit(event, t.rollout);
    await this.#router.apply(t.rollout.service, t.rollout.traffic);
  }

  /** A transition's writes: the rollout, the service's traffic, the history event. */
  #writeTransition(tx: StoreTx, t: Transition, actor: Actor): RolloutEvent {
    const r = t.rollout;
    tx.putRollout(r);
    const state = tx.getService(r.service) ?? this.#throwUnknown(r.service);
    const promotedNow = r.phase === "Healthy" && t.event.type === "promoted";
    tx.putService({
      ...state,
      traffic: r.traffic,
      rolloutId: r.id,
      previousStable: promotedNow ? r.stable : state.previousStable,
      updatedAt: r.updatedAt,
    });
    return tx.appendEvent({
      rolloutId: r.id,
      service: r.service,
      at: r.updatedAt,
      type: t.event.type,
      actor: t.actor ?? actor,
      reason: t.event.reason,
      phase: r.phase,
      stepIndex: r.stepIndex,
      weight: r.traffic.canary === null ? 0 : r.traffic.weight,
      data: t.event.data ?? {},
    });
  }

  /** What follows a committed event: a finished rollout's analyses and gates stop, the event is told and logged. */
  #afterCommit(event: RolloutEvent, r: Rollout | undefined): void {
    if (r !== undefined) {
      // A finished rollout's analyses, gate calls and timers stop here, whoever finished it.
      if (isTerminal(r)) {
        this.#analysis?.facts(r);
        this.#gates.forget(r.id);
        this.#cancelTimer(r.id);
        this.#tellPostRollout(r);
      } else if (r.gates.waiting !== null) this.#gates.poll(r);
    }
    this.#hub?.publish({ kind: "event", event });
    if (r !== undefined)
      this.#log.info(
        {
          service: r.service,
          rollout: r.id,
          event: event.type,
          phase: r.phase,
          weight: event.weight,
          actor: event.actor,
        },
        event.reason,
      );
    else
      this.#log.info(
        { service: event.service, event: event.type, actor: event.actor },
        event.reason,
      );
  }

  #commitService(state: ServiceState, e: ServiceEventInput): void {
    this.#faults.beforeCommit?.();
    const event = this.#store.transaction((tx) => this.#writeService(tx, state, e));
    this.#faults.afterCommit?.();
    this.#afterCommit(event, undefined);
  }

  /** A service's new state and the history event that says why. */
  #writeService(tx: StoreTx, state: ServiceState, e: ServiceEventInput): RolloutEvent {
    tx.putService(state);
    return tx.appendEvent({
      rolloutId: state.rolloutId,
      service: state.name,
      at: state.updatedAt,
      type: e.type,
      actor: e.actor,
      reason: e.reason,
      phase: null,
      stepIndex: null,
      weight: state.traffic.canary === null ? 0 : state.traffic.weight,
      data: e.data,
    });
  }

  /** A gate hook answered: open the gate, roll back, or give up on a pre-rollout hook. */
  #onGateAnswer(e: GateAnswerEvent): void {
    const { gate, answer, at } = e;
    const service = e.rollout.service;
    const actor: Actor = `webhook:${gate.name}`;
    const said = `${answer.status ?? "no answer"}${answer.message ? `: ${answer.message}` : ""}`;
    const giveUp = gate.type === "pre-rollout" && !answer.open && e.failures > gate.retries;
    if (!answer.open && !giveUp) {
      this.#log.info(
        { service, gate: gate.name, failures: e.failures },
        `gate hook not open yet (${said})`,
      );
      return;
    }
    if (gate.type === "rollback" && !answer.open) return;
    this.#serial(service, async () => {
      const r = this.rollout(service);
      // The answer is for the rollout and the point it was asked about; anything since wins.
      if (r === undefined || r.id !== e.rollout.id || isTerminal(r)) return;
      const now = this.#clock.now();
      let t: Transition | null;
      if (gate.type === "rollback") {
        t = abortCommand(r, now, actor, `rollback gate answered ${said}`);
      } else if (giveUp) {
        t = abortCommand(
          r,
          now,
          actor,
          `pre-rollout gate failed ${e.failures} times (last: ${said})`,
        );
      } else {
        if (r.gates.waiting?.point !== at || !r.gates.waiting.gates.includes(gate.name)) return;
        t = openGateCommand(r, now, gate.name, actor);
      }
      if (t !== null) await this.#commitAndApply(t, actor);
      await this.#drive(service);
    }).catch((err: unknown) =>
      this.#log.error(
        { service, gate: gate.name, err: String(err) },
        "could not act on a gate answer",
      ),
    );
  }

  /** Tells each post-rollout gate how the rollout ended, with retries; records the outcome. */
  #tellPostRollout(r: Rollout): void {
    const caller = this.#gateCaller;
    for (const gate of postRolloutGates(r)) {
      if (caller === undefined) continue;
      const attempt = (n: number): void => {
        if (this.#stopped) return;
        const controller = new AbortController();
        Promise.resolve()
          .then(() => caller(gate, payloadFor(r, gate), controller.signal))
          .catch((err: unknown) => ({ open: false, status: null, message: String(err) }))
          .then((answer) => {
            if (!answer.open && n < gate.retries && !this.#stopped) {
              this.#clock.setTimeout(() => attempt(n + 1), Math.min(60_000, 1_000 * 2 ** n));
              return;
            }
            const said = `${answer.status ?? "no answer"}${answer.message ? `: ${answer.message}` : ""}`;
            this.#record(r, {
              type: "gate.told",
              actor: `webhook:${gate.name}`,
              reason: `post-rollout gate ${gate.name} ${answer.open ? "was told" : `failed after ${n + 1} attempts`} (${said})`,
              data: { gate: gate.name, status: answer.status, ok: answer.open },
            });
          })
          // Recording the outcome can fail (the store): say so rather than leave it unhandled.
          .catch((err: unknown) =>
            this.#log.error(
              { service: r.service, gate: gate.name, err: String(err) },
              "could not record a post-rollout gate's outcome",
            ),
          );
      };
      attempt(0);
    }
  }

  /** Appends an event that changes no state (an outcome worth keeping in the history). */
  #record(
    r: Rollout,
    e: { type: string; actor: Actor; reason: string; data: Record<string, unknown> },
  ): void {
    if (this.#stopped) return;
    const event = this.#store.transaction((tx) =>
      tx.appendEvent({
        rolloutId: r.id,
        service: r.service,
        at: this.#clock.now(),
        type: e.type,
        actor: e.actor,
        reason: e.reason,
        phase: r.phase,
        stepIndex: r.stepIndex,
        weight: r.traffic.canary === null ? 0 : r.traffic.weight,
        data: e.data,
      }),
    );
    this.#hub?.publish({ kind: "event", event });
    this.#log.info({ service: r.service, event: e.type, actor: e.actor }, e.reason);
  }

  /** Queues work for one service behind whatever is already running for it. */
  #serial<T>(service: string, work: () => Promise<T>): Promise<T> {
    return this.#serialAll([service], work);
  }

  /** Queues work behind whatever is already running for any of `services`; they wait for it in turn. */
  #serialAll<T>(services: readonly string[], work: () => Promise<T>): Promise<T> {
    const run = Promise.allSettled(services.map((s) => this.#queues.get(s))).then(work);
    const settled = run.catch(() => undefined);
    for (const service of services) this.#queues.set(service, settled);
    void settled.then(() => {
      for (const service of services)
        if (this.#queues.get(service) === settled) this.#queues.delete(service);
    });
    return run;
  }

  /** Drives a rollout a spec started; a step that fails is logged and retried on the next tick, the spec stays applied. */
  async #driveOrLog(service: string): Promise<void> {
    try {
      await this.#drive(service);
    } catch (err) {
      this.#log.error(
        { service, err: String(err) },
        "rollout step failed; will retry on the next tick",
      );
    }
  }

  #kick(service: string): void {
    if (this.#stopped) return;
    this.#serial(service, () => this.#drive(service)).catch((err: unknown) => {
      this.#log.error(
        { service, err: String(err) },
        "rollout step failed; will retry on the next tick",
      );
    });
  }

  #scheduleTick(): void {
    if (this.#stopped) return;
    this.#ticker = this.#clock.setTimeout(() => {
      for (const r of this.#store.activeRollouts()) {
        this.#kick(r.service);
        this.#gates.poll(r);
      }
      this.#scheduleTick();
    }, this.#tickMs);
  }

  #cancelTimer(rolloutId: string): void {
    this.#timers.get(rolloutId)?.cancel();
    this.#timers.delete(rolloutId);
  }

  #specOrThrow(name: string): Service {
    return this.#specs.get(name) ?? this.#throwUnknown(name);
  }

  #throwUnknown(name: string): never {
    throw this.#unknown(name);
  }

  /** A service that was never there, or one removed from the spec whose history stays. */
  #unknown(name: string): AviaryError {
    if (this.#hasHistory(name))
      return new AviaryError(
        "AVIARY_UNKNOWN_SERVICE",
        `${name} was removed from the spec; its history stays (aviary history ${name})`,
      );
    return new AviaryError("AVIARY_UNKNOWN_SERVICE", `no service named ${name}`);
  }

  #hasHistory(name: string): boolean {
    return this.#store.eventsOf(name, { limit: 1 }).length > 0;
  }
}

/** Without an analysis engine, an analysis step reports itself as an error (the rollout aborts, saying why). */
function noAnalysisEngine(r: Rollout): AnalysisFacts {
  const step = (r.strategy as ResolvedStrategy).steps[r.stepIndex];
  const missing = {
    phase: "Error" as const,
    message: "this controller has no analysis engine configured",
  };
  return {
    step: step !== undefined && "analysis" in step ? missing : undefined,
    background: undefined,
  };
}

interface ServiceEventInput {
  type: string;
  actor: Actor;
  reason: string;
  data: Record<string, unknown>;
}

/** The service's current (or last) rollout as `tx` sees it; none for an unknown service. */
function currentRollout(tx: StoreTx, service: string): Rollout | undefined {
  const id = tx.getService(service)?.rolloutId;
  return id ? tx.getRollout(id) : undefined;
}
