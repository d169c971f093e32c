/**
 * The analysis runs of every rollout: created when a rollout reaches an analysis step (or the
 * background analysis's starting step), resumed from the store after a restart, re-run when an
 * operator resumes after an inconclusive verdict, and stopped when they no longer apply.
 *
 * Run ids are derived from the rollout (`<rollout>:step3:1`, `<rollout>:background:1`), so
 * creating a run is idempotent across crashes.
 *
 * @module
 */

import type { ResolvedStrategy } from "../rollout/steps.js";
import type { Rollout } from "../rollout/types.js";
import type { AnalysisMetric, AnalysisRef, AnalysisTemplate } from "../spec/schema.js";
import type { AnalysisRunRecord, MeasurementRecord, Store } from "../store/store.js";
import type { Clock } from "../util/clock.js";
import type { Logger } from "../util/log.js";
import { withTemplateAlpha } from "./alpha.js";
import { type ScoringPlan, scoringPlan } from "./run-score.js";
import { AnalysisRunner, type RunPlan } from "./runner.js";
import type { Judge, MetricProvider } from "./types.js";

export interface AnalysisDeps {
  store: Store;
  clock: Clock;
  log: Logger;
  providerFor(metric: AnalysisMetric): MetricProvider;
  judgeFor(metric: AnalysisMetric): Judge;
  /** A run of `service` changed phase: the controller should look at the rollout again. */
  onChange(service: string): void;
  /** A measurement of one of `rollout`'s runs was stored. */
  onMeasurement?(rollout: Rollout, m: MeasurementRecord): void;
}

/** What the state machine needs to know about a rollout's analyses. */
export interface AnalysisFacts {
  step: { phase: AnalysisRunRecord["phase"]; message: string } | undefined;
  background: { phase: AnalysisRunRecord["phase"]; message: string } | undefined;
}

export class AnalysisManager {
  readonly #deps: AnalysisDeps;
  readonly #runners = new Map<string, AnalysisRunner>();

  constructor(deps: AnalysisDeps) {
    this.#deps = deps;
  }

  /**
   * Ensures the runs the rollout needs now exist and run; stops those it no longer needs.
   * Called from the rollout's service queue, so two calls for one rollout never interleave.
   */
  async facts(r: Rollout): Promise<AnalysisFacts> {
    const s = r.strategy as ResolvedStrategy;
    const wanted = new Set<string>();
    let step: AnalysisFacts["step"];
    let background: AnalysisFacts["background"];
    const active = r.phase !== "Healthy" && r.phase !== "Aborted";
    const current = s.steps[r.stepIndex];
    if (active && current !== undefined && "analysis" in current) {
      const run = await this.#ensure(
        r,
        `step${r.stepIndex}`,
        "inline",
        current.analysis,
        r.stepIndex,
      );
      wanted.add(run.id);
      step = { phase: run.phase, message: run.message };
    }
    if (
      active &&
      s.backgroundAnalysis !== null &&
      r.stepIndex >= s.backgroundAnalysis.startingStep
    ) {
      const run = await this.#ensure(r, "background", "background", s.backgroundAnalysis, null);
      wanted.add(run.id);
      background = { phase: run.phase, message: run.message };
    }
    const stopped: Promise<void>[] = [];
    for (const [id, runner] of this.#runners) {
      if (!id.startsWith(`${r.id}:`) || wanted.has(id)) continue;
      const phase = r.phase === "Healthy" ? "Successful" : "Inconclusive";
      const stop = runner.stop(
        phase,
        r.phase === "Healthy"
          ? "rollout promoted"
          : r.phase === "Aborted"
            ? "rollout aborted"
            : "step left before the analysis finished",
      );
      this.#runners.delete(id);
      stopped.push(stop);
    }
    await Promise.all(stopped);
    return { step, background };
  }

  /** Stops every timer (the process is stopping); resolves once the runs' records are stored. */
  async shutdown(): Promise<void> {
    const stopped = [...this.#runners.values()].map((runner) => runner.stop("Running", ""));
    this.#runners.clear();
    await Promise.all(stopped);
  }

  async #ensure(
    r: Rollout,
    key: string,
    kind: "inline" | "background",
    ref: AnalysisRef,
    stepIndex: number | null,
  ): Promise<AnalysisRunRecord> {
    const prefix = `${r.id}:${key}:`;
    const runs = (await this.#deps.store.analysisRunsOf(r.id)).filter((run) =>
      run.id.startsWith(prefix),
    );
    let latest = runs.at(-1);
    // An inconclusive run paused the rollout; an operator's resume (which restarts the
    // rollout's progress clock) asks for a fresh run.
    const resumedSince =
      latest?.phase === "Inconclusive" &&
      r.pausedAt === null &&
      (latest.finishedAt ?? 0) <= r.progressSince;
    if (latest === undefined || resumedSince) {
      const attempt = runs.length + 1;
      const now = this.#deps.clock.now();
      latest = {
        id: `${prefix}${attempt}`,
        rolloutId: r.id,
        service: r.service,
        kind,
        stepIndex,
        phase: "Running",
        message: "measuring",
        spec: planRun(r, ref),
        startedAt: now,
        finishedAt: null,
      };
      await this.#deps.store.putAnalysisRun(latest);
    }
    if (latest.phase === "Running" && !this.#runners.has(latest.id)) {
      const runner = await AnalysisRunner.open(
        latest,
        latest.spec as RunPlan,
        { service: r.service, canaryVersion: r.canary.version, stableVersion: r.stable.version },
        {
          store: this.#deps.store,
          clock: this.#deps.clock,
          log: this.#deps.log,
          providerFor: this.#deps.providerFor,
          judgeFor: this.#deps.judgeFor,
          onPhase: () => this.#deps.onChange(r.service),
          onMeasurement: (m) => this.#deps.onMeasurement?.(r, m),
        },
      );
      this.#runners.set(latest.id, runner);
      runner.start();
    }
    return this.#runners.get(latest.id)?.record ?? latest;
  }
}

/** The metrics and args of a run: the referenced templates merged, args resolved. */
function planRun(r: Rollout, ref: AnalysisRef): RunPlan {
  const templates = (r.strategy as ResolvedStrategy).templates;
  const args: Record<string, string> = {
    service: r.service,
    canaryVersion: r.canary.version,
    stableVersion: r.stable.version,
  };
  const metrics: AnalysisMetric[] = [];
  const scoring: ScoringPlan[] = [];
  for (const name of ref.templates) {
    const t = templates[name] as AnalysisTemplate;
    for (const a of t.args) if (a.value !== undefined) args[a.name] ??= a.value;
    const names: string[] = [];
    for (const m of withTemplateAlpha(t)) {
      const clash = metrics.some((x) => x.name === m.name);
      const planned = clash ? { ...m, name: `${name}/${m.name}` } : m;
      metrics.push(planned);
      names.push(planned.name);
    }
    const plan = scoringPlan(t, names);
    if (plan !== undefined) scoring.push(plan);
  }
  Object.assign(args, ref.args);
  return { metrics, args, scoring };
}
