/**
 * An analysis run: measures each metric on its interval, has its judge decide, stores every
 * measurement with its evidence, and folds the metrics into the run's phase. A provider that
 * fails yields an Error measurement, never an exception; a run keeps its judges' state in the
 * stored measurements, so after a restart it continues where it stopped.
 *
 * @module
 */

import type { AnalysisMetric } from "../spec/schema.js";
import type { AnalysisRunRecord, MeasurementRecord, Store } from "../store/store.js";
import type { Clock, TimerHandle } from "../util/clock.js";
import { parseDuration } from "../util/duration.js";
import type { Logger } from "../util/log.js";
import { foldRunPhase, type MetricPhase, MetricState, worstPhase } from "./metric-state.js";
import { type ScoreVerdict, type ScoringPlan, scoreRun } from "./run-score.js";
import {
  type Judge,
  type MeasureContext,
  type MetricProvider,
  ProviderError,
  type Verdict,
} from "./types.js";

/** What a run measures, resolved when it starts (templates merged, args substituted). */
export interface RunPlan {
  metrics: AnalysisMetric[];
  args: Record<string, string>;
  /** Templates judged by one score (`run-score.ts`); absent in runs planned before scoring. */
  scoring?: ScoringPlan[];
}

/** The measurements that record a scored template's verdict are named so (no metric can be). */
export const SCORE_PREFIX = "score:";

export interface RunDeps {
  store: Store;
  clock: Clock;
  log: Logger;
  providerFor(metric: AnalysisMetric): MetricProvider;
  judgeFor(metric: AnalysisMetric): Judge;
  /** Told whenever the run's phase changes (the controller reconciles the rollout). */
  onPhase(run: AnalysisRunRecord): void;
  /** Told of every stored measurement (the event stream shows it live). */
  onMeasurement?(m: MeasurementRecord): void;
}

interface MetricRuntime {
  state: MetricState;
  judge: Judge;
  provider: MetricProvider;
  timer: TimerHandle | undefined;
  /** Where the first window starts (run start + initialDelay). */
  origin: number;
  inFlight: AbortController | undefined;
}

export class AnalysisRunner {
  readonly #deps: RunDeps;
  readonly #ctx: { service: string; canaryVersion: string; stableVersion: string };
  readonly #metrics: MetricRuntime[];
  readonly #args: Record<string, string>;
  readonly #scoring: ScoringPlan[];
  /** What each scored template last recorded, so a score is stored when it changes. */
  readonly #lastScore = new Map<string, string>();
  #record: AnalysisRunRecord;
  #stopped = false;
  /** What follows a measurement (store it, fold the phase) runs one at a time, in order. */
  #after: Promise<void> = Promise.resolve();

  /** Opens a run: reads its stored measurements, so a run that was measuring resumes. */
  static async open(
    record: AnalysisRunRecord,
    plan: RunPlan,
    ctx: { service: string; canaryVersion: string; stableVersion: string },
    deps: RunDeps,
  ): Promise<AnalysisRunner> {
    const stored = new Map<string, MeasurementRecord[]>();
    const names = [
      ...plan.metrics.map((m) => m.name),
      ...(plan.scoring ?? []).map((p) => SCORE_PREFIX + p.template),
    ];
    for (const metric of names)
      stored.set(metric, await deps.store.measurementsOf(record.id, { metric }));
    return new AnalysisRunner(record, plan, ctx, deps, stored);
  }

  /** Starts (or, with the stored measurements by metric, resumes) a run. */
  private constructor(
    record: AnalysisRunRecord,
    plan: RunPlan,
    ctx: { service: string; canaryVersion: string; stableVersion: string },
    deps: RunDeps,
    measured: ReadonlyMap<string, MeasurementRecord[]>,
  ) {
    this.#deps = deps;
    this.#record = record;
    this.#ctx = ctx;
    const inline = record.kind === "inline";
    this.#metrics = plan.metrics.map((metric) => {
      const origin = record.startedAt + (parseDuration(metric.initialDelay) as number);
      const state = new MetricState(metric, origin, inline);
      const judge = deps.judgeFor(metric);
      const stored = measured.get(metric.name) ?? [];
      state.replay(stored);
      const last = stored.at(-1);
      if (last !== undefined && last.evidence.judgeState !== undefined)
        judge.restore(last.evidence.judgeState);
      return {
        state,
        judge,
        provider: deps.providerFor(metric),
        timer: undefined,
        origin,
        inFlight: undefined,
      };
    });
    this.#args = plan.args;
    this.#scoring = plan.scoring ?? [];
    for (const p of this.#scoring) {
      const last = measured.get(SCORE_PREFIX + p.template)?.at(-1);
      if (last !== undefined) this.#lastScore.set(p.template, scoreKey(last.phase, last.message));
    }
  }

  get record(): AnalysisRunRecord {
    return this.#record;
  }

  /** Schedules every unfinished metric's next measurement. */
  start(): void {
    if (this.#record.phase !== "Running") return;
    for (const m of this.#metrics) this.#schedule(m);
  }

  /**
   * Stops measuring. A run still Running ends with `phase` (e.g. Successful when a rollout
   * promotes); resolves once that is stored.
   */
  async stop(phase: AnalysisRunRecord["phase"], message: string): Promise<void> {
    this.#stopped = true;
    for (const m of this.#metrics) {
      m.timer?.cancel();
      m.inFlight?.abort();
    }
    if (this.#record.phase === "Running") await this.#finish(phase, message);
  }

  #schedule(m: MetricRuntime): void {
    if (this.#stopped || m.state.done) return;
    const interval = parseDuration(m.state.metric.interval) as number;
    const due = Math.max(m.origin, m.state.lastTo) + interval;
    const delay = Math.max(0, due - this.#deps.clock.now());
    m.timer = this.#deps.clock.setTimeout(
      () =>
        void this.#measure(m).catch((err: unknown) =>
          this.#deps.log.error(
            { run: this.#record.id, metric: m.state.metric.name, err: String(err) },
            "could not store a measurement",
          ),
        ),
      delay,
    );
  }

  async #measure(m: MetricRuntime): Promise<void> {
    if (this.#stopped) return;
    const metric = m.state.metric;
    // Whole seconds only: the router's metrics count a second where it starts, so a window
    // ending mid-second would take part of a second and lose the rest to no window.
    const to = Math.floor(this.#deps.clock.now() / 1000) * 1000;
    const from = m.judge.window === "cumulative" ? m.origin : m.state.lastTo;
    const controller = new AbortController();
    m.inFlight = controller;
    const ctx: MeasureContext = {
      ...this.#ctx,
      args: this.#args,
      slowEdgesMs: m.judge.slowEdgesMs,
      signal: controller.signal,
    };
    let verdict: Verdict;
    try {
      const obs = await m.provider.measure(from, to, ctx);
      verdict = m.judge.judge(obs, to);
      if (obs.query !== undefined) verdict.evidence.query = obs.query;
    } catch (err) {
      const message =
        err instanceof ProviderError
          ? `${metric.name}: ${err.message}`
          : `${metric.name}: measurement failed: ${(err as Error).message}`;
      verdict = {
        phase: err instanceof ProviderError && err.inconclusive ? "Inconclusive" : "Error",
        value: null,
        message,
        evidence: { code: err instanceof ProviderError ? err.code : "AVIARY_MEASUREMENT_FAILED" },
      };
    } finally {
      m.inFlight = undefined;
    }
    if (this.#stopped) return;
    const finishedAt = this.#deps.clock.now();
    const decision = verdict.evidence.decision;
    m.state.record(
      verdict.phase,
      decision,
      to,
      verdict.message,
      verdict.evidence.label,
      verdict.evidence.noTraffic === true,
    );
    // Metrics measure concurrently; storing and folding one waits for the one before, so two
    // never both finish the run.
    const after = this.#after.then(() => this.#store(m, verdict, from, to, finishedAt));
    this.#after = after.catch(() => undefined);
    await after;
  }

  async #store(
    m: MetricRuntime,
    verdict: Verdict,
    from: number,
    to: number,
    finishedAt: number,
  ): Promise<void> {
    if (this.#stopped) return;
    const metric = m.state.metric;
    const stored = await this.#deps.store.appendMeasurement({
      runId: this.#record.id,
      metric: metric.name,
      phase: verdict.phase,
      value: verdict.value !== null && Number.isFinite(verdict.value) ? verdict.value : null,
      evidence: {
        ...verdict.evidence,
        window: { from, to },
        judgeState: m.judge.state(),
        dryRun: metric.dryRun,
      },
      message: verdict.message,
      startedAt: to,
      finishedAt,
    });
    this.#deps.onMeasurement?.(stored);
    await this.#reassess();
    this.#schedule(m);
  }

  async #reassess(): Promise<void> {
    if (this.#record.phase !== "Running") return;
    const scored = new Set(this.#scoring.flatMap((p) => p.metrics.map((m) => m.name)));
    const own = this.#metrics.filter((m) => !scored.has(m.state.metric.name));
    const states = new Map(this.#metrics.map((m) => [m.state.metric.name, m.state]));
    const scores: ScoreVerdict[] = [];
    for (const p of this.#scoring) scores.push(await this.#score(p, states));
    // A stop while the scores were stored has ended the run already.
    if (this.#record.phase !== "Running") return;

    // Metrics outside a scored template: the worst decides, as Argo folds them.
    const ownPhase: MetricPhase = foldRunPhase(own.map((m) => m.state));
    const counted = own.filter((m) => !m.state.metric.dryRun);
    // An inline run with only dry-run metrics finishes when they all have.
    const ownDone =
      own.length === 0 ||
      (counted.length === 0 ? own.every((m) => m.state.done) : counted.every((m) => m.state.done));
    const phase = worstPhase([ownPhase, ...scores.map((v) => v.phase)]);
    if (phase === "Running" || (phase === "Successful" && !ownDone)) return;
    if (phase === "Successful" && this.#record.kind === "background") return;
    let message: string;
    const decisive = scores.find((v) => v.phase === phase);
    if (phase === "Successful")
      message = scores.length > 0 ? scores.map((v) => v.message).join("; ") : "every metric passed";
    else if (decisive !== undefined && ownPhase !== phase) message = decisive.message;
    else {
      const culprit = own.find((m) => !m.state.metric.dryRun && m.state.phase === phase) ?? own[0];
      message = `${culprit?.state.metric.name}: ${culprit?.state.reason}`;
    }
    for (const m of this.#metrics) m.timer?.cancel();
    this.#stopped = true;
    await this.#finish(phase, message);
  }

  /** A scored template's verdict now, stored as a measurement of its own when it changed. */
  async #score(plan: ScoringPlan, states: ReadonlyMap<string, MetricState>): Promise<ScoreVerdict> {
    const v = scoreRun(plan, states);
    if (v.result === undefined) return v;
    const phase = v.phase === "Running" ? "Successful" : v.phase;
    const key = scoreKey(phase, v.message);
    if (this.#lastScore.get(plan.template) === key) return v;
    this.#lastScore.set(plan.template, key);
    const now = this.#deps.clock.now();
    const stored = await this.#deps.store.appendMeasurement({
      runId: this.#record.id,
      metric: SCORE_PREFIX + plan.template,
      phase,
      value: v.result.score,
      evidence: {
        kind: "score",
        decision: SCORE_DECISION[v.phase],
        score: v.result.score,
        weightedScore: v.result.weightedScore,
        classification: v.result.classification,
        pass: plan.pass,
        marginal: plan.marginal,
        groups: v.result.groups.map((g) => ({ name: g.name, score: g.score, weight: g.weight })),
        contributions: v.contributions,
      },
      message: v.message,
      startedAt: now,
      finishedAt: now,
    });
    this.#deps.onMeasurement?.(stored);
    return v;
  }

  async #finish(phase: AnalysisRunRecord["phase"], message: string): Promise<void> {
    // The record changes first (synchronously), so nothing else finishes the run meanwhile.
    this.#record = { ...this.#record, phase, message, finishedAt: this.#deps.clock.now() };
    await this.#deps.store.putAnalysisRun(this.#record);
    this.#deps.log.info(
      { run: this.#record.id, service: this.#record.service, phase },
      `analysis ${phase}: ${message}`,
    );
    this.#deps.onPhase(this.#record);
  }
}

/** A score's verdict in the words the judges' decisions use (the dashboard reads them). */
const SCORE_DECISION: Record<MetricPhase, string> = {
  Running: "continue",
  Successful: "pass",
  Failed: "fail",
  Inconclusive: "inconclusive",
  Error: "error",
};

function scoreKey(phase: string, message: string): string {
  return `${phase} ${message}`;
}
