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
import type { Flag } from "../flags/schema.js";
import { flagSubjects, isFlagSubject } from "../flags/subjects.js";
import type { TrafficProvider } from "../providers/traffic/provider.js";
import type { AnalysisTemplate, Service, Version } from "../spec/schema.js";
import type { AnalysisRunRecord, MeasurementRecord, Store } from "../store/store.js";
import type { Clock, TimerHandle } from "../util/clock.js";
import type { Logger } from "../util/log.js";
import { Convergence, type TrafficEvent, type TrafficStatus } from "./convergence.js";
import { type GateAnswerEvent, type GateCaller, GatePoller, payloadFor } from "./gate-poller.js";
import { postRolloutGates } from "./gates.js";
import {
  abortCommand,
  CommandError,
  checkRetry,
  isTerminal,
  openGateCommand,
  pauseCommand,
  promoteCommand,
  reconcile,
  resumeCommand,
  type Transition,
} from "./machine.js";
import { rolloutStart } from "./rollout-start.js";
import { ServiceQueue } from "./service-queue.js";
import { planSpecChanges, type SpecChange } from "./spec-changes.js";
import { type CommandMark, commitSpec, type Written } from "./spec-commit.js";
import type { SplitReader } from "./split-check.js";
import type { ResolvedStrategy } from "./steps.js";
import { stableOnly } from "./traffic.js";
import type { Actor, Rollout, RolloutEvent, ServiceState, TrafficState } from "./types.js";
import {
  currentRollout,
  nextRevision,
  type ServiceEventInput,
  writeService,
  writeTransition,
} from "./writes.js";

/** How a spec is applied: `command` when a stored command applies it. */
export type SpecOptions = {
  dryRun: boolean;
  templates?: readonly AnalysisTemplate[];
  /** The spec's feature flags; absent keeps the ones applied last. */
  flags?: readonly Flag[];
  source?: string;
} & CommandOptions;

/** A service as committed, with its current rollout. */
type Current = { state: ServiceState | undefined; rollout: Rollout | undefined };

export interface ControllerOptions {
  store: Store;
  /** The data plane's provider; the convergence loop keeps it serving what the store says. */
  router: TrafficProvider;
  /** Per-version request counts, to verify the engine's split (`split-check.ts`). */
  split?: SplitReader;
  /** First retry delay of a failed apply (doubles up to 30 s). */
  retryMs?: number;
  clock: Clock;
  log: Logger;
  /** How often every active rollout is re-checked (targets down, deadlines). */
  tickMs?: number;
  /** Told of every history event once it is committed, and of every analysis measurement. */
  hub?: Pick<EventHub, "publish">;
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
  /** Called after every committed spec (the applied spec in the store may have changed). */
  onSpecCommitted?: () => void;
}

/**
 * A stored operator command being carried out (`src/cluster/commands.ts`): the transaction that
 * carries it out also marks the command committed in the store, with what its answer is built
 * from, so a leader that dies before recording the outcome is not followed by a second run.
 *
 * The id is an argument, not an AsyncLocalStorage around the executor: a context follows every
 * timer, promise and loop the command starts (the drive's step timer, the convergence loop's
 * retries, gate polls), so transactions the controller makes later on its own would carry the
 * command too, and the store refuses a second mark (rolling those transitions back). Only the
 * command's own transaction is marked; the steps the drive takes after it are the controller's.
 */
export interface CommandOptions {
  /** The stored command's id; absent for a command run directly on the leader. */
  command?: string;
}

/** Most transitions one reconcile pass makes before yielding (a guard against a loop). */
const MAX_TRANSITIONS_PER_PASS = 64;

export class Controller {
  readonly #store: Store;
  readonly #traffic: Convergence;
  readonly #canaryAvailable: (service: string) => boolean | undefined;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #tickMs: number;
  readonly #hub: Pick<EventHub, "publish"> | undefined;
  readonly #faults: { beforeCommit?: () => void; afterCommit?: () => void };
  readonly #specs = new Map<string, Service>();
  #templates: readonly AnalysisTemplate[] = [];
  #flags: readonly Flag[] = [];
  readonly #onSpecCommitted: (() => void) | undefined;
  readonly #analysis: AnalysisManager | undefined;
  readonly #gates: GatePoller;
  readonly #gateCaller: GateCaller | undefined;
  readonly #timers = new Map<string, TimerHandle>();
  readonly #queue = new ServiceQueue();
  readonly #validate: ((services: readonly Service[]) => void) | undefined;
  /** Spec applications, one at a time (a SIGHUP and an API apply never interleave). */
  #applying: Promise<unknown> = Promise.resolve();
  #ticker: TimerHandle | undefined;
  #stopped = false;

  constructor(opts: ControllerOptions) {
    this.#store = opts.store;
    const provider = opts.router;
    this.#canaryAvailable = (service) => provider.canaryAvailable(service);
    this.#traffic = new Convergence({
      provider,
      clock: opts.clock,
      log: opts.log,
      record: (service, e) => this.#recordTraffic(service, e),
      onConverged: (service) => this.#kick(service),
      ...(opts.split ? { split: opts.split } : {}),
      ...(opts.retryMs !== undefined ? { retryMs: opts.retryMs } : {}),
    });
    this.#clock = opts.clock;
    this.#log = opts.log;
    this.#tickMs = opts.tickMs ?? 1_000;
    this.#hub = opts.hub;
    this.#faults = opts.faults ?? {};
    this.#gateCaller = opts.gateCaller;
    this.#validate = opts.validate;
    this.#onSpecCommitted = opts.onSpecCommitted;
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
   *
   * `previous` is the spec applied before this start (the store's applied spec), when there is
   * one: changes are then the difference from it, exactly as for a reload. Without it, only a
   * canary the store has never rolled out counts as new; a rollout started by `aviary deploy`
   * while the spec named another canary would otherwise be superseded by a new leader.
   */
  async start(
    services: readonly Service[],
    templates: readonly AnalysisTemplate[] = [],
    source = "start",
    previous?: readonly Service[],
    flags: readonly Flag[] = [],
    previousFlags: readonly Flag[] = [],
  ): Promise<SpecChange[]> {
    if (previous !== undefined && this.#specs.size === 0)
      for (const svc of [...previous, ...flagSubjects(previousFlags)])
        this.#specs.set(svc.name, svc);
    const changes = await this.applySpec(services, "controller", {
      dryRun: false,
      templates,
      flags,
      source,
    });
    for (const r of await this.#store.activeRollouts()) this.#kick(r.service);
    this.#scheduleTick();
    return changes;
  }

  /** Stops timers; the router keeps serving the last state it was given. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#traffic.stop();
    this.#ticker?.cancel();
    for (const t of this.#timers.values()) t.cancel();
    this.#gates.close();
    this.#timers.clear();
    await this.#analysis?.shutdown();
    await this.#queue.idle();
    await this.#traffic.settled();
  }

  // ---- reads ----

  services(): Promise<ServiceState[]> {
    return this.#store.listServices();
  }

  async service(name: string): Promise<ServiceState> {
    const state = await this.#store.getService(name);
    if (state === undefined) throw await this.#unknown(name);
    return state;
  }

  /** Whether the service's recorded traffic is what its engine serves, and if not, why. */
  trafficStatus(name: string): TrafficStatus | undefined {
    return this.#traffic.status(name);
  }

  /** Every service's traffic status, by name (what the leader records for followers). */
  trafficStatuses(): Map<string, TrafficStatus> {
    return this.#traffic.statuses();
  }

  spec(name: string): Service | undefined {
    return this.#specs.get(name);
  }

  /** A rollout by id (a stored command's answer names the rollout it moved). */
  rolloutById(id: string): Promise<Rollout | undefined> {
    return this.#store.getRollout(id);
  }

  /** The service's current rollout (active, or the last one), if any. */
  async rollout(service: string): Promise<Rollout | undefined> {
    const id = (await this.service(service)).rolloutId;
    return id === null ? undefined : this.#store.getRollout(id);
  }

  /** The analysis runs of the service's current rollout with their measurements, oldest first. */
  async analysis(
    service: string,
  ): Promise<Array<AnalysisRunRecord & { measurements: MeasurementRecord[] }>> {
    const r = await this.rollout(service);
    if (r === undefined) return [];
    const runs = await this.#store.analysisRunsOf(r.id);
    return Promise.all(
      runs.map(async (run) => ({ ...run, measurements: await this.#store.measurementsOf(run.id) })),
    );
  }

  /** A service's history; a service removed from the spec keeps it. */
  async history(
    service: string,
    opts: { afterSeq?: number; limit?: number } = {},
  ): Promise<RolloutEvent[]> {
    if ((await this.#store.getService(service)) === undefined && !(await this.#hasHistory(service)))
      throw await this.#unknown(service);
    return this.#store.eventsOf(service, opts);
  }

  // ---- commands ----

  /** Starts a rollout of `canary` for `service`; a newer canary supersedes an active rollout. */
  deploy(
    service: string,
    canary: Version,
    actor: Actor,
    opts: CommandOptions = {},
  ): Promise<Rollout> {
    return this.#queue.run(service, async () => {
      const spec = await this.#specOrThrow(service);
      // A variant is code already shipped: which one a flag rolls out is its spec's to say.
      if (isFlagSubject(service))
        throw new CommandError(
          "AVIARY_FLAG_DEPLOY",
          `${service} is a flag: set its rollout.variant in the spec and apply it to roll a variant out (aviary retry starts an aborted one again)`,
        );
      const r = await this.#startRollout(spec, canary, actor, undefined, opts.command);
      await this.#drive(service);
      return (await this.#store.getRollout(r.id)) as Rollout;
    });
  }

  promote(
    service: string,
    full: boolean,
    actor: Actor,
    opts: CommandOptions = {},
  ): Promise<Rollout> {
    return this.#command(service, actor, opts, (r, now) => promoteCommand(r, now, full, actor));
  }

  pause(service: string, actor: Actor, opts: CommandOptions = {}): Promise<Rollout> {
    return this.#command(service, actor, opts, (r, now) => pauseCommand(r, now, actor));
  }

  resume(service: string, actor: Actor, opts: CommandOptions = {}): Promise<Rollout> {
    return this.#command(service, actor, opts, (r, now) => resumeCommand(r, now, actor));
  }

  /** Canary to 0 % at once: no analysis, no gate, one commit and one router call. Idempotent. */
  abort(service: string, actor: Actor, why?: string, opts: CommandOptions = {}): Promise<Rollout> {
    return this.#command(service, actor, opts, (r, now) => abortCommand(r, now, actor, why));
  }

  /** Opens a gate the rollout waits at (or, for a rollback gate, rolls it back). */
  openGate(
    service: string,
    gate: string,
    actor: Actor,
    opts: CommandOptions = {},
  ): Promise<Rollout> {
    return this.#command(service, actor, opts, (r, now) => openGateCommand(r, now, gate, actor));
  }

  /** Starts an aborted rollout's canary again from step 0, as a new attempt with its own id and analyses. */
  retry(service: string, actor: Actor, opts: CommandOptions = {}): Promise<Rollout> {
    return this.#queue.run(service, async () => {
      const last = await this.rollout(service);
      if (last === undefined)
        throw new CommandError("AVIARY_NO_ROLLOUT", `${service} has no rollout`);
      checkRetry(last);
      const spec = await this.#specOrThrow(service);
      const r = await this.#startRollout(spec, last.canary, actor, last.id, opts.command);
      await this.#drive(service);
      return (await this.#store.getRollout(r.id)) as Rollout;
    });
  }

  /** Puts the previous stable version back after a promotion, at once. */
  undo(service: string, actor: Actor, opts: CommandOptions = {}): Promise<ServiceState> {
    return this.#queue.run(service, async () => {
      const state = await this.service(service);
      const current =
        state.rolloutId === null ? undefined : await this.#store.getRollout(state.rolloutId);
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
        // Over the revision read above: a write since (another instance) refuses this one.
        revision: nextRevision(state),
      };
      await this.#commitService(
        next,
        {
          type: "undo",
          actor,
          reason,
          data: { from: state.traffic.stable.version, to: previous.version },
        },
        opts.command === undefined ? undefined : { id: opts.command, data: { service: next } },
      );
      await this.#traffic.desire(service, traffic);
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
  applySpec(services: readonly Service[], actor: Actor, opts: SpecOptions): Promise<SpecChange[]> {
    const run = this.#applying.then(() => this.#applySpecNow(services, actor, opts));
    this.#applying = run.catch(() => undefined);
    return run;
  }

  // ---- internals ----

  async #applySpecNow(
    services: readonly Service[],
    actor: Actor,
    opts: SpecOptions,
  ): Promise<SpecChange[]> {
    const storedNames = async () => (await this.#store.listServices()).map((s) => s.name);
    const templates = opts.templates ?? this.#templates;
    const flags = opts.flags ?? this.#flags;
    // A flag with a strategy is rolled out as a subject of its own (`src/flags/subjects.ts`):
    // planned, committed and driven with the services; the engine never sees it.
    const subjects = [...services, ...flagSubjects(flags)];
    // Every service the spec, the controller or the store knows: their own work (a step, a
    // command) finishes first and waits for this, so the plan is made on what is committed.
    const touched = new Set([
      ...subjects.map((s) => s.name),
      ...this.#specs.keys(),
      ...(await storedNames()),
    ]);
    return this.#queue.runAll([...touched], async () => {
      // What the plan reads, read first (the plan itself is synchronous): every service the
      // spec names or the store holds, as committed now that their own work has finished.
      const stored = await storedNames();
      const current = new Map<string, Current>();
      for (const name of new Set([...subjects.map((s) => s.name), ...stored]))
        current.set(name, await this.#currentOf(name));
      const changes = planSpecChanges(
        subjects,
        this.#specs,
        (name) => current.get(name) ?? { state: undefined, rollout: undefined },
        stored,
      );
      this.#validate?.(subjects);
      if (opts.dryRun) return changes;
      const { written, started } = await commitSpec(
        this.#store,
        changes,
        { services, subjects, templates, flags, source: opts.source ?? String(actor) },
        actor,
        this.#clock.now(),
        this.#faults.beforeCommit,
        opts.command === undefined ? undefined : { id: opts.command, data: { changes } },
      );
      for (const _ of written) this.#faults.afterCommit?.();
      this.#templates = templates;
      this.#flags = flags;
      // SQLite tells no connection of its own commits: whoever serves the flags is told here.
      this.#onSpecCommitted?.();
      this.#specs.clear();
      for (const svc of subjects) this.#specs.set(svc.name, svc);
      // Told in commit order first (each call's synchronous part), then awaited together.
      await Promise.all(written.map((w) => this.#afterCommit(w.event, w.rollout)));
      await this.#configureRouter(subjects);
      for (const name of started) await this.#driveOrLog(name);
      return changes;
    });
  }

  /** The router serves exactly the spec's services, each with its committed traffic, in one swap. */
  async #configureRouter(services: readonly Service[]): Promise<void> {
    const traffic = new Map<string, TrafficState>();
    for (const svc of services) {
      const state = await this.#store.getService(svc.name);
      if (state !== undefined) traffic.set(svc.name, state.traffic);
    }
    try {
      await this.#traffic.configure(services, traffic);
    } catch (err) {
      // Only a bug gets here (the spec was validated): the router kept its previous plan.
      this.#log.error(
        { err: String(err) },
        "the router refused a committed spec; it serves the previous one until the next apply",
      );
      throw err;
    }
  }

  async #currentOf(name: string): Promise<Current> {
    const state = await this.#store.getService(name);
    const rollout = state?.rolloutId ? await this.#store.getRollout(state.rolloutId) : undefined;
    return { state, rollout };
  }

  async #startRollout(
    spec: Service,
    canary: Version,
    actor: Actor,
    retryOf: string | undefined,
    command: string | undefined,
  ): Promise<Rollout> {
    const now = this.#clock.now();
    // The superseded rollout's abort and the new rollout's start commit together: a leader that
    // dies in between must not leave the old one aborted and the new one never started.
    let written: Written[] = [];
    const start = await this.#store.transaction(async (tx) => {
      written = [];
      const s = await rolloutStart(tx, spec, canary, actor, now, this.#templates, retryOf);
      for (const t of s.transitions) {
        this.#faults.beforeCommit?.();
        written.push({ event: await writeTransition(tx, t, actor), rollout: t.rollout });
      }
      if (command !== undefined && s.transitions.length > 0)
        await tx.recordCommandCommit(command, { at: now, data: { rollout: s.rollout.id } });
      return s;
    });
    for (const _ of written) this.#faults.afterCommit?.();
    for (const w of written) await this.#afterCommit(w.event, w.rollout);
    if (written.length > 0) await this.#traffic.desire(spec.name, start.rollout.traffic);
    return start.rollout;
  }

  #command(
    service: string,
    actor: Actor,
    opts: CommandOptions,
    run: (r: Rollout, now: number) => Transition | null,
  ): Promise<Rollout> {
    return this.#queue.run(service, async () => {
      const r = await this.rollout(service);
      if (r === undefined) throw new CommandError("AVIARY_NO_ROLLOUT", `${service} has no rollout`);
      const t = run(r, this.#clock.now());
      // A command that changes nothing (abort of an aborted rollout) commits nothing: run again, it answers the same.
      if (t !== null) await this.#commitAndApply(t, actor, opts.command);
      await this.#drive(service);
      return (await this.#store.getRollout(r.id)) as Rollout;
    });
  }

  /** Runs the machine for the service's rollout until it has to wait; schedules the wake-up. */
  async #drive(service: string): Promise<void> {
    for (let i = 0; i < MAX_TRANSITIONS_PER_PASS; i++) {
      // A service removed from the spec has no rollout to drive (its last one was aborted).
      const r = await currentRollout(this.#store, service);
      if (r === undefined || isTerminal(r)) {
        if (r) this.#cancelTimer(r.id);
        return;
      }
      const facts = {
        now: this.#clock.now(),
        canaryAvailable: this.#canaryAvailable(service),
        inSync: this.#traffic.inSync(service, r.traffic),
        analysis: (await this.#analysis?.facts(r)) ?? noAnalysisEngine(r),
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
  async #commitAndApply(t: Transition, actor: Actor, command?: string): Promise<void> {
    this.#faults.beforeCommit?.();
    const event = await this.#store.transaction(async (tx) => {
      const e = await writeTransition(tx, t, actor);
      if (command !== undefined)
        await tx.recordCommandCommit(command, { at: e.at, data: { rollout: t.rollout.id } });
      return e;
    });
    this.#faults.afterCommit?.();
    await this.#afterCommit(event, t.rollout);
    await this.#traffic.desire(t.rollout.service, t.rollout.traffic);
  }

  /**
   * What follows a committed event: a finished rollout's analyses and gates stop, the event is
   * told and logged. Everything up to the analyses' stop runs synchronously, so events are told
   * in the order they were committed (streams drop an event older than one they sent).
   */
  async #afterCommit(event: RolloutEvent, r: Rollout | undefined): Promise<void> {
    const finished = r !== undefined && isTerminal(r);
    if (r !== undefined) {
      // A finished rollout's analyses, gate calls and timers stop here, whoever finished it.
      if (finished) {
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
    if (finished) await this.#analysis?.facts(r);
  }

  async #commitService(
    state: ServiceState,
    e: ServiceEventInput,
    command?: CommandMark,
  ): Promise<void> {
    this.#faults.beforeCommit?.();
    const event = await this.#store.transaction(async (tx) => {
      const written = await writeService(tx, state, e);
      if (command !== undefined)
        await tx.recordCommandCommit(command.id, { at: written.at, data: command.data });
      return written;
    });
    this.#faults.afterCommit?.();
    await this.#afterCommit(event, undefined);
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
    this.#queue
      .run(service, async () => {
        const r = await this.rollout(service);
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
      })
      .catch((err: unknown) =>
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
          .then(async (answer) => {
            if (!answer.open && n < gate.retries && !this.#stopped) {
              this.#clock.setTimeout(() => attempt(n + 1), Math.min(60_000, 1_000 * 2 ** n));
              return;
            }
            const said = `${answer.status ?? "no answer"}${answer.message ? `: ${answer.message}` : ""}`;
            await this.#record(r, {
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
  async #record(
    r: Rollout,
    e: { type: string; actor: Actor; reason: string; data: Record<string, unknown> },
  ): Promise<void> {
    if (this.#stopped) return;
    const event = await this.#store.transaction((tx) =>
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

  /** A history event of the convergence loop (pending, applied, drift, split), as the router's. */
  async #recordTraffic(service: string, e: TrafficEvent): Promise<void> {
    if (this.#stopped) return;
    try {
      // Read in the event's own transaction: the weight and phase it names are those committed.
      const event = await this.#store.transaction(async (tx) => {
        const state = await tx.getService(service);
        if (state === undefined) return undefined;
        const r = state.rolloutId === null ? undefined : await tx.getRollout(state.rolloutId);
        return tx.appendEvent({
          rolloutId: state.rolloutId,
          service,
          at: this.#clock.now(),
          type: e.type,
          actor: "router",
          reason: e.reason,
          phase: r?.phase ?? null,
          stepIndex: r?.stepIndex ?? null,
          weight: state.traffic.canary === null ? 0 : state.traffic.weight,
          data: e.data,
        });
      });
      if (event === undefined) return;
      this.#hub?.publish({ kind: "event", event });
      this.#log.info({ service, event: e.type, actor: "router" }, e.reason);
    } catch (err) {
      this.#log.error(
        { service, event: e.type, err: String(err) },
        "could not record a traffic event",
      );
    }
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
    this.#queue
      .run(service, () => this.#drive(service))
      .catch((err: unknown) => {
        this.#log.error(
          { service, err: String(err) },
          "rollout step failed; will retry on the next tick",
        );
      });
  }

  #scheduleTick(): void {
    if (this.#stopped) return;
    this.#ticker = this.#clock.setTimeout(() => {
      this.#traffic
        .check()
        .catch((err: unknown) =>
          this.#log.error({ err: String(err) }, "checking what the engine serves failed"),
        );
      this.#store
        .activeRollouts()
        .then((active) => {
          for (const r of active) {
            this.#kick(r.service);
            this.#gates.poll(r);
          }
        })
        .catch((err: unknown) =>
          this.#log.error({ err: String(err) }, "reading the active rollouts failed"),
        )
        // The next tick is scheduled once this one has read the store, so ticks never pile up.
        .finally(() => this.#scheduleTick());
    }, this.#tickMs);
  }

  #cancelTimer(rolloutId: string): void {
    this.#timers.get(rolloutId)?.cancel();
    this.#timers.delete(rolloutId);
  }

  async #specOrThrow(name: string): Promise<Service> {
    const spec = this.#specs.get(name);
    if (spec === undefined) throw await this.#unknown(name);
    return spec;
  }

  /** A service that was never there, or one removed from the spec whose history stays. */
  async #unknown(name: string): Promise<AviaryError> {
    if (await this.#hasHistory(name))
      return new AviaryError(
        "AVIARY_UNKNOWN_SERVICE",
        `${name} was removed from the spec; its history stays (aviary history ${name})`,
      );
    return new AviaryError("AVIARY_UNKNOWN_SERVICE", `no service named ${name}`);
  }

  async #hasHistory(name: string): Promise<boolean> {
    return (await this.#store.eventsOf(name, { limit: 1 })).length > 0;
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
