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
import type { TrafficRouter } from "../providers/traffic/router.js";
import type { AnalysisTemplate, Service, Version } from "../spec/schema.js";
import type { AnalysisRunRecord, MeasurementRecord, Store } from "../store/store.js";
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
  router: TrafficRouter;
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
}

/** Most transitions one reconcile pass makes before yielding (a guard against a loop). */
const MAX_TRANSITIONS_PER_PASS = 64;

export class Controller {
  readonly #store: Store;
  readonly #router: TrafficRouter;
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
   * Takes over: applies every service's stored traffic (the router may have restarted empty),
   * brings stored state in line with the spec, and resumes every active rollout where it stood.
   */
  async start(
    services: readonly Service[],
    templates: readonly AnalysisTemplate[] = [],
  ): Promise<SpecChange[]> {
    for (const state of this.#store.listServices())
      await this.#router.apply(state.name, state.traffic);
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
    if (state === undefined) throw unknownService(name);
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

  history(service: string, opts: { afterSeq?: number; limit?: number } = {}): RolloutEvent[] {
    this.service(service);
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
   * rollout, a removed canary aborts one, target and static-weight changes apply at once.
   * With dryRun, only says what it would do.
   */
  async applySpec(
    services: readonly Service[],
    actor: Actor,
    opts: { dryRun: boolean; templates?: readonly AnalysisTemplate[] },
  ): Promise<SpecChange[]> {
    const changes = planSpecChanges(services, this.#specs, (name) => this.#currentOf(name));
    if (opts.dryRun) return changes;
    if (opts.templates !== undefined) this.#templates = opts.templates;
    this.#specs.clear();
    for (const svc of services) this.#specs.set(svc.name, svc);
    await this.#router.configure(services);
    for (const change of changes) {
      await this.#serial(change.service, () => this.#applyChange(change, actor));
    }
    return changes;
  }

  // ---- internals ----

  #currentOf(name: string): { state: ServiceState | undefined; rollout: Rollout | undefined } {
    const state = this.#store.getService(name);
    const rollout = state?.rolloutId ? this.#store.getRollout(state.rolloutId) : undefined;
    return { state, rollout };
  }

  async #applyChange(change: SpecChange, actor: Actor): Promise<void> {
    const spec = this.#specOrThrow(change.service);
    const now = this.#clock.now();
    switch (change.kind) {
      case "create": {
        const state: ServiceState = {
          name: spec.name,
          traffic: spec.strategy ? stableOnly(trafficFromSpec(spec)) : trafficFromSpec(spec),
          rolloutId: null,
          previousStable: null,
          updatedAt: now,
        };
        this.#store.recordVersion(spec.name, spec.stable.version, spec.stable.targets, now);
        this.#commitService(state, {
          type: "service.created",
          actor,
          reason: change.summary,
          data: { stable: spec.stable.version },
        });
        await this.#router.apply(spec.name, state.traffic);
        if (spec.strategy && spec.canary) {
          await this.#startRollout(spec, spec.canary, actor);
          await this.#drive(spec.name);
        }
        return;
      }
      case "deploy":
        await this.#startRollout(spec, change.canary, actor);
        await this.#drive(spec.name);
        return;
      case "abort": {
        const r = this.rollout(spec.name);
        const t = r && abortCommand(r, now, actor, change.summary);
        if (t) await this.#commitAndApply(t, actor);
        return;
      }
      case "traffic": {
        const state = this.service(spec.name);
        const traffic = change.traffic as TrafficState;
        this.#store.recordVersion(spec.name, traffic.stable.version, traffic.stable.targets, now);
        this.#commitService(
          { ...state, traffic, updatedAt: now },
          { type: "traffic.set", actor, reason: change.summary, data: {} },
        );
        await this.#router.apply(spec.name, traffic);
        return;
      }
      case "config":
      case "remove":
        // The router took the new configuration in configure() above.
        return;
    }
  }

  async #startRollout(
    spec: Service,
    canary: Version,
    actor: Actor,
    retryOf?: string,
  ): Promise<Rollout> {
    if (spec.strategy === undefined) {
      throw new CommandError(
        "AVIARY_NO_STRATEGY",
        `${spec.name} has no strategy in its spec: add strategy.steps to roll out new versions`,
      );
    }
    const state = this.service(spec.name);
    if (canary.version === state.traffic.stable.version) {
      throw new CommandError(
        "AVIARY_SAME_VERSION",
        `${canary.version} is already the stable version of ${spec.name}`,
      );
    }
    const now = this.#clock.now();
    const current = state.rolloutId ? this.#store.getRollout(state.rolloutId) : undefined;
    if (current && !isTerminal(current)) {
      if (sameVersion(current.canary, canary)) return current;
      const superseded = abortCommand(current, now, actor, `superseded by ${canary.version}`);
      if (superseded) await this.#commitAndApply(superseded, actor);
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
      strategy: resolveStrategy(spec.strategy, this.#templates),
      gates: { passed: [], waiting: null },
      createdAt: now,
      updatedAt: now,
      finishedAt: null,
      revision: 0,
    };
    const rollout = enterStep(base, 0, now);
    const what = retryOf ? `retry of rollout ${retryOf}` : "rollout";
    const reason = `${what} of ${canary.version} started by ${actor} (stable ${state.traffic.stable.version}); ${rollout.reason}`;
    this.#store.recordVersion(spec.name, canary.version, canary.targets, now);
    const data = {
      stable: state.traffic.stable.version,
      canary: canary.version,
      ...(retryOf ? { retryOf } : {}),
    };
    await this.#commitAndApply(
      { rollout, event: { type: retryOf ? "rollout.retried" : "rollout.started", reason, data } },
      actor,
    );
    return rollout;
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
      const r = this.rollout(service);
      if (r === undefined || isTerminal(r)) {
        if (r) this.#cancelTimer(r.id);
        return;
      }
      const facts = {
        now: this.#clock.now(),
        canaryAvailable: this.#router.canaryAvailable(service),
        inSync: await this.#router.verify(service, r.traffic),
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
    const r = t.rollout;
    this.#faults.beforeCommit?.();
    const event = this.#store.transaction((tx) => {
      tx.putRollout(r);
      const state = tx.getService(r.service);
      if (state === undefined) throw unknownService(r.service);
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
    });
    this.#faults.afterCommit?.();
    // A finished rollout's analyses and gate calls stop here, whoever finished it.
    if (isTerminal(r)) {
      this.#analysis?.facts(r);
      this.#gates.forget(r.id);
      this.#tellPostRollout(r);
    } else if (r.gates.waiting !== null) this.#gates.poll(r);
    this.#hub?.publish({ kind: "event", event });
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
    await this.#router.apply(r.service, r.traffic);
  }

  #commitService(
    state: ServiceState,
    e: { type: string; actor: Actor; reason: string; data: Record<string, unknown> },
  ): void {
    this.#faults.beforeCommit?.();
    const event = this.#store.transaction((tx) => {
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
    });
    this.#faults.afterCommit?.();
    this.#hub?.publish({ kind: "event", event });
    this.#log.info({ service: state.name, event: event.type, actor: e.actor }, e.reason);
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
        caller(gate, payloadFor(r, gate), controller.signal)
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
          });
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
    const prev = this.#queues.get(service) ?? Promise.resolve();
    const run = prev.then(work, work);
    const settled = run.catch(() => undefined);
    this.#queues.set(service, settled);
    void settled.then(() => {
      if (this.#queues.get(service) === settled) this.#queues.delete(service);
    });
    return run;
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
    const spec = this.#specs.get(name);
    if (spec === undefined) throw unknownService(name);
    return spec;
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

function unknownService(name: string): AviaryError {
  return new AviaryError("AVIARY_UNKNOWN_SERVICE", `no service named ${name}`);
}
