/**
 * The sequential judge: an anytime-valid test of the canary's errors (or slow requests, or a
 * counts-mode metric's events) against the stable baseline's, checked after every interval
 * without inflating false rollbacks (research §5(c)1 and §5(c)6; the statistics are in
 * `../stats/`).
 *
 * - Each interval adds its four counts (requests and events per arm) with that interval's canary
 *   share ρ = N_canary / (N_canary + N_stable), so weight steps (5 % → 25 % → 50 %) need no
 *   restart, and a shock common to both arms (load, a downstream outage) cancels
 *   (`rate-ratio.ts`).
 * - Real fleets vary more than independent requests would: pods differ, a node gets noisy. The
 *   judge measures that excess from the canary's share of events between intervals (the
 *   dispersion φ, `split-dispersion.ts`) and divides each interval's log-likelihood ratios by it
 *   (`dispersion: estimate`, the default).
 * - Besides the whole-run e-process, a fresh one starts every `restartEvery` and they are mixed
 *   with weights summing to 1 (`restart-mixture.ts`), so a regression that starts late is not
 *   buried under the healthy stretch before it.
 * - Fail (roll back) when the mixture's e-value E against "canary rate ≤ (1 + margin) × stable
 *   rate" reaches 1/α (for `direction: decrease`, "≥ (1 − margin) ×"). A fail is final: later
 *   intervals are still counted and shown, but the decision stays "fail".
 * - Pass early when the whole-run confidence sequence puts the rate ratio within the margin,
 *   after `minBakeTime` and once the canary has served {@link MIN_PASS_CANARY_REQUESTS} requests
 *   and both arms together {@link MIN_PASS_EVENTS} events. Otherwise continue.
 * - The seeds' rules as margins: `maxIncrease` (absolute points) adds maxIncrease × N_stable
 *   pseudo-events to the stable arm, which turns "canary ≤ stable + d" into a rate-ratio null
 *   the same e-process tests (exact for Poisson counts: the pseudo-events are less variable than
 *   Poisson ones); `maxRatio` (latency) counts the canary's requests beyond maxRatio × the stable
 *   quantile against stable's beyond the quantile itself.
 * - `warmup`: the first stretch of the run is shown but not counted (a cold canary).
 *
 * Verdicts: Failed with `decision: "fail"`; Successful with `decision: "pass"` or
 * `decision: "continue"` (a check that found nothing wrong but has not earned an early pass);
 * Error when the provider gave no stable arm or unusable counts. An interval without traffic on
 * either arm changes nothing and says so (`decision: "continue"`, `noTraffic: true`). A window
 * that overlaps one already counted (a replay after a restart) is an Error and is not counted.
 *
 * Latency: a request is an event when slower than the slow edge (`slow[0]` of each arm). The
 * edge is `slowThresholdMs`, or else fixed once from the first window with stable traffic: the
 * stable sketch's p99 × 1.5 (with `maxRatio`, its `quantile`), rounded to two significant
 * digits; that window only fixes the edge (`calibrating: true`), counting starts with the next
 * one, so the edge never depends on the data it is tested on. That window is Successful with
 * `decision: "continue"`, not Inconclusive, so that the runner's default `inconclusiveLimit: 0`
 * does not end the run on its first measurement; without a configured edge and without a stable
 * sketch it is an Error.
 *
 * @module
 */
import type { z } from "zod";
import { JudgeConfig } from "../../spec/analysis.js";
import { DEFAULT_LATENCY_WARMUP } from "../../spec/analysis-checks.js";
import { formatDuration, parseDuration } from "../../util/duration.js";
import { bernoulliLowerBound, bernoulliUpperBound } from "../stats/bernoulli-bound.js";
import { standardGrid } from "../stats/rate-ratio.js";
import { RestartMixture, type RestartMixtureState } from "../stats/restart-mixture.js";
import { type DispersionState, SplitDispersion } from "../stats/split-dispersion.js";
import type { ArmObservation, Judge, Observation, Verdict } from "../types.js";

export type SequentialConfig = Extract<JudgeConfig, { sequential: unknown }>["sequential"];
/** The settings as written in a spec: every field with a default may be left out. */
export type SequentialInput = NonNullable<
  Exclude<
    z.input<typeof JudgeConfig>,
    { threshold: unknown } | { relative: unknown } | { mannWhitney: unknown }
  >["sequential"]
>;

export type SequentialKind = "errors" | "latency" | "events";

/** No early pass before the canary has served this many requests in the run. */
export const MIN_PASS_CANARY_REQUESTS = 500;
/** No early pass before this many events (errors or slow requests, both arms) in the run. */
export const MIN_PASS_EVENTS = 10;
/** Without `slowThresholdMs`: the slow edge is the stable p99 of the first window × this. */
export const SLOW_EDGE_P99_FACTOR = 1.5;
/** Standard deviation of the normal prior on the log rate ratio. */
export const PRIOR_SCALE = 1;
/** The margin when none is given (and no maxIncrease or maxRatio states one). */
export const DEFAULT_MARGIN = 0.1;
/**
 * The prior per-interval variance of the log ratio of the arms' rates (`split-dispersion.ts`):
 * generous on purpose, until the run's own intervals show how noisy the fleet is. Slow-request
 * shares swing far more than error rates: a latency drift of 10 % moves the share beyond a tail
 * edge by about 60 %.
 */
export const PRIOR_S2 = { errors: 0.25, events: 0.25, latency: 2 } as const;
/**
 * With `dispersion: estimate`, an interval whose variance is mostly drift (φ ≫ 1) adds at most
 * 1/this of log(1/α) to the evidence (φ/(φ − 1) times that in general): then a rollback takes at
 * least this many intervals, so one freak interval cannot carry it (the drift between arms has
 * heavy tails: a node's stall puts a hundred slow requests on one arm).
 */
export const INTERVALS_TO_FAIL = 3;
/** The same for latency signals, whatever φ (measured: 0.8 % → 0.5 % false rollbacks under arm drift CV 0.4 at 1,000 requests/s). */
export const LATENCY_INTERVALS_TO_FAIL = 4;
/** The warm-up of latency signals when none is given: a cold canary's first minute. */
export { DEFAULT_LATENCY_WARMUP };

interface ArmTotals {
  requests: number;
  events: number;
}

interface SequentialState {
  v: 2;
  kind: SequentialKind;
  delta0: number;
  gridSize: number;
  mixture: RestartMixtureState;
  dispersion: DispersionState;
  /** Start of the first window (epoch ms), for the bake time and the warm-up. */
  startedAt: number | null;
  /** End of the last window counted (epoch ms). */
  lastTo: number | null;
  /** The slow edge in ms (latency), once fixed. */
  slowEdgeMs: number | null;
  canary: ArmTotals;
  stable: ArmTotals;
  /** Intervals that carried traffic on both arms. */
  intervals: number;
  /** The largest log e-value seen (a fail is final, and 1/max E is the anytime p-value). */
  maxLogE: number;
  /** When the e-value first reached 1/α (epoch ms). */
  failedAt: number | null;
}

type Decision = "fail" | "pass" | "continue";

/** Tuning knobs for experiments (the decision benchmark); the defaults are what the spec gets. */
export interface SequentialOptions {
  /** Standard deviation of the normal prior on the log rate ratio (default {@link PRIOR_SCALE}). */
  priorScale?: number;
  /** What the events of an "events" judge are, for messages (the metric's name: "orders"). */
  label?: string;
  /** The prior drift variance between arms (default {@link PRIOR_S2} of the kind). */
  priorS2?: number;
}

export function createSequentialJudge(
  input: SequentialInput,
  kind: SequentialKind,
  options: SequentialOptions = {},
): Judge {
  // Parsed here too, so callers that build settings in code get the spec's defaults and checks.
  const config = (JudgeConfig.parse({ sequential: input }) as { sequential: SequentialConfig })
    .sequential;
  const alpha = config.alpha ?? 0.01;
  const direction = config.direction;
  const up = direction === "increase";
  const maxIncrease = config.maxIncrease ?? 0;
  const maxRatio = config.maxRatio;
  if (config.maxIncrease !== undefined && kind === "latency")
    throw new RangeError("maxIncrease is for rates (errors, counts); for latency use maxRatio");
  if (maxRatio !== undefined && kind !== "latency")
    throw new RangeError("maxRatio is for latency signals; for a rate use maxIncrease or margin");
  const margin =
    config.margin ??
    (config.maxIncrease !== undefined || maxRatio !== undefined ? 0 : DEFAULT_MARGIN);
  const absoluteMargin = config.absoluteMargin;
  const bake = parseDuration(config.minBakeTime);
  const warmup = parseDuration(
    config.warmup ?? (kind === "latency" ? DEFAULT_LATENCY_WARMUP : "0s"),
  );
  const restart = parseDuration(config.restartEvery);
  if (!(alpha > 0 && alpha < 1))
    throw new RangeError(`sequential alpha must be in (0, 1), got ${alpha}`);
  if (!(margin >= 0 && Number.isFinite(margin) && (up || margin < 1)))
    throw new RangeError(`sequential margin must be ≥ 0 (and < 1 for a decrease), got ${margin}`);
  if (bake === undefined || warmup === undefined || restart === undefined)
    throw new RangeError("sequential minBakeTime, warmup and restartEvery must be durations");
  const minBakeMs = bake;
  const warmupMs = warmup;
  const restartMs = restart;
  const estimateDispersion = config.dispersion === "estimate";
  const priorS2 = options.priorS2 ?? PRIOR_S2[kind];
  // The null: canary rate ≤ (1 + margin) × stable's, or for a decrease ≥ (1 − margin) × stable's.
  const bound = up ? 1 + margin : 1 - margin;
  const delta0 = Math.log(bound);
  const grid = standardGrid({
    delta0,
    direction,
    priorScale: options.priorScale ?? PRIOR_SCALE,
  });
  const logThreshold = Math.log(1 / alpha);
  const what =
    kind === "errors"
      ? "errors"
      : kind === "latency"
        ? "slow requests"
        : (options.label ?? "events");

  let mixture = new RestartMixture(grid, restartMs);
  let dispersion = new SplitDispersion(grid.deltas, priorS2);
  let st: SequentialState = fresh();

  function fresh(): SequentialState {
    return {
      v: 2,
      kind,
      delta0,
      gridSize: grid.deltas.length,
      mixture: mixture.snapshot(),
      dispersion: dispersion.snapshot(),
      startedAt: null,
      lastTo: null,
      slowEdgeMs: kind === "latency" ? (config.slowThresholdMs ?? null) : null,
      canary: { requests: 0, events: 0 },
      stable: { requests: 0, events: 0 },
      intervals: 0,
      maxLogE: 0,
      failedAt: null,
    };
  }

  /** Latency edges: [slow] or, with maxRatio, [stable's quantile, maxRatio × it]. */
  const edges = (): number[] => {
    const e = st.slowEdgeMs;
    if (e === null) return [];
    return maxRatio === undefined ? [e] : [e, roundTwoDigits(e * maxRatio)];
  };

  const describeCounts = (c: ArmTotals, s: ArmTotals): string => {
    let label = what;
    if (kind === "latency") {
      const [edge, canaryEdge] = edges();
      label =
        canaryEdge === undefined
          ? `slow requests (> ${edge} ms)`
          : `requests beyond ${canaryEdge} ms (stable beyond its p${num(100 * config.quantile)} ${edge} ms)`;
    }
    return `canary ${label} ${c.events}/${c.requests} (${pct(c)}) vs stable ${s.events}/${s.requests} (${pct(s)})`;
  };

  // Built by assignment, not spreads: the benchmark calls this hundreds of thousands of times.
  const baseEvidence = (extra?: Record<string, unknown>): Record<string, unknown> => {
    const e: Record<string, unknown> = {
      kind,
      alpha,
      margin,
      bound,
      threshold: 1 / alpha,
      cumulative: {
        canary: { requests: st.canary.requests, events: st.canary.events },
        stable: { requests: st.stable.requests, events: st.stable.events },
      },
      intervals: st.intervals,
    };
    if (!up) e.direction = direction;
    if (config.maxIncrease !== undefined) e.maxIncrease = maxIncrease;
    if (maxRatio !== undefined) {
      e.maxRatio = maxRatio;
      e.quantile = config.quantile;
    }
    if (kind === "latency") e.slowEdgeMs = st.slowEdgeMs;
    return extra === undefined ? e : Object.assign(e, extra);
  };

  function error(message: string, evidence: Record<string, unknown> = {}): Verdict {
    return { phase: "Error", value: null, message, evidence: baseEvidence(evidence) };
  }

  function judge(obs: Observation, now: number): Verdict {
    if (st.startedAt === null && Number.isFinite(obs.from)) st.startedAt = obs.from;
    if (obs.stable === undefined) {
      return error(
        "the provider gave no stable baseline; the sequential judge compares canary with stable, so nothing was judged",
      );
    }

    // Latency without a configured edge: fix it from the first window with stable traffic.
    if (kind === "latency" && st.slowEdgeMs === null) return calibrate(obs.stable);

    if (st.lastTo !== null && obs.from < st.lastTo) {
      return error(
        `the window starting ${new Date(obs.from).toISOString()} overlaps data already counted (up to ${new Date(st.lastTo).toISOString()}); not counted again`,
      );
    }
    const canary = readArm("canary", obs.canary);
    if (typeof canary === "string") return error(canary);
    const stable = readArm("stable", obs.stable);
    if (typeof stable === "string") return error(stable);
    if (Number.isFinite(obs.to)) st.lastTo = obs.to;

    const warmingUp =
      warmupMs > 0 &&
      st.startedAt !== null &&
      Number.isFinite(obs.to) &&
      obs.to - st.startedAt <= warmupMs;
    if (warmingUp) return warmingUpVerdict(canary, stable);

    // The events an interval of this traffic is expected to carry, from the run so far: φ is
    // read at this, not at the interval's own events, whose number moves with the very noise
    // being discounted (discounting the stable arm's busy intervals would tilt the test).
    const pastRequests = st.canary.requests + st.stable.requests;
    const pastEvents = st.canary.events + st.stable.events + maxIncrease * st.stable.requests;
    const expectedEvents =
      pastEvents > 0 ? ((canary.requests + stable.requests) * pastEvents) / pastRequests : null;
    st.canary.requests += canary.requests;
    st.canary.events += canary.events;
    st.stable.requests += stable.requests;
    st.stable.events += stable.events;

    const total = canary.requests + stable.requests;
    let phi = 1;
    const rho = total > 0 ? canary.requests / total : null;
    const interval = { canary, stable, rho };
    const informative = canary.requests > 0 && stable.requests > 0;
    if (informative) {
      const r = rho as number;
      // maxIncrease: the stable arm's events plus d × its requests (see the module comment).
      const stableEvents = stable.events + maxIncrease * stable.requests;
      const n = expectedEvents ?? stableEvents + canary.events;
      // φ from the intervals before this one, so the discount is fixed before these events count.
      phi = estimateDispersion ? dispersion.phi(n, r, mixture.whole.estimate()) : 1;
      // Where drift dominates the interval (φ large) no single interval may carry more than
      // 1/INTERVALS_TO_FAIL of the way to a rollback; where the counts are small and binomial
      // (φ near 1) an interval's evidence is its own and is not cut.
      // Slow-request counts drift with heavy tails (a 10 % latency swing moves a tail share by
      // half), so for latency a tighter cap holds whatever φ.
      const cap = !estimateDispersion
        ? Number.POSITIVE_INFINITY
        : kind === "latency"
          ? logThreshold / LATENCY_INTERVALS_TO_FAIL
          : phi > 1
            ? ((logThreshold / INTERVALS_TO_FAIL) * phi) / (phi - 1)
            : Number.POSITIVE_INFINITY;
      mixture.update(obs.from, stableEvents, canary.events, r, 1 / phi, cap);
      if (estimateDispersion) dispersion.add(stableEvents, canary.events, r);
      st.intervals++;
    }
    const logE = mixture.logE();
    if (logE > st.maxLogE) st.maxLogE = logE;
    if (logE >= logThreshold && st.failedAt === null)
      st.failedAt = Number.isFinite(obs.to) ? obs.to : now;

    const cs = mixture.whole.confidenceSequence(alpha);
    const ratioLower = Number.isFinite(cs.lower) ? Math.exp(cs.lower) : 0;
    const ratioUpper = Number.isFinite(cs.upper) ? Math.exp(cs.upper) : null;
    const bakedMs = st.startedAt !== null && Number.isFinite(obs.to) ? obs.to - st.startedAt : 0;
    const baked = bakedMs >= minBakeMs;
    const enough =
      st.canary.requests >= MIN_PASS_CANARY_REQUESTS &&
      st.canary.events + st.stable.events >= MIN_PASS_EVENTS;
    // With maxIncrease the ratio is against stable + d: no early pass by the ratio alone.
    const bounded =
      config.maxIncrease === undefined &&
      (up ? ratioUpper !== null && ratioUpper < bound : ratioLower > bound);
    // With too few events for a ratio, bound the canary's own share in absolute terms, against
    // the stable share's bound on the other side, so a lucky stable arm cannot wave a bad canary
    // through.
    // (Only worked out when it can matter — not after a rollback, before the bake time, or when
    // the ratio already passes: the benchmark judges millions of intervals.)
    const shareBoundsMatter = st.failedAt === null && baked && !(bounded && enough);
    const canaryShareBound = shareBoundsMatter
      ? (up ? bernoulliUpperBound : bernoulliLowerBound)(
          st.canary.events,
          st.canary.requests,
          alpha,
        )
      : null;
    const stableShare = st.stable.requests > 0 ? st.stable.events / st.stable.requests : 0;
    const stableShareBound = shareBoundsMatter
      ? (up ? bernoulliLowerBound : bernoulliUpperBound)(
          st.stable.events,
          st.stable.requests,
          alpha,
        )
      : null;
    const allowance = absoluteMargin + maxIncrease;
    const absolutelyBounded =
      canaryShareBound !== null &&
      stableShareBound !== null &&
      st.canary.requests >= MIN_PASS_CANARY_REQUESTS &&
      (up
        ? canaryShareBound <= stableShareBound * bound + allowance
        : canaryShareBound >= stableShareBound * bound - allowance);

    let decision: Decision;
    if (st.failedAt !== null) decision = "fail";
    else if (baked && ((bounded && enough) || absolutelyBounded)) decision = "pass";
    else decision = "continue";

    const eValue = Math.exp(Math.min(logE, 700));
    const leading = mixture.leading();
    const evidence = baseEvidence();
    evidence.decision = decision;
    evidence.interval = interval;
    evidence.rho = rho;
    evidence.eValue = eValue;
    evidence.logEValue = logE;
    evidence.maxLogEValue = st.maxLogE;
    evidence.pValue = Math.min(1, Math.exp(-st.maxLogE));
    evidence.ratioLower = ratioLower;
    evidence.ratioUpper = ratioUpper;
    evidence.dispersion = phi;
    if (estimateDispersion) evidence.driftVariance = dispersion.s2(mixture.whole.estimate());
    if (leading.j > 0) evidence.evidenceSinceMs = leading.sinceMs;
    if (canaryShareBound !== null && stableShareBound !== null) {
      evidence[up ? "canaryShareUpper" : "canaryShareLower"] = canaryShareBound;
      evidence[up ? "stableShareLower" : "stableShareUpper"] = stableShareBound;
    }
    evidence.stableShare = stableShare;
    evidence.bakedMs = bakedMs;
    evidence.minBakeMs = minBakeMs;
    if (!informative) evidence.noTraffic = true;
    if (st.failedAt !== null) evidence.failedAt = st.failedAt;

    // The sentence is written when read: the benchmark judges millions of intervals and reads
    // none of them. What it says is fixed now, so it quotes the evidence's copy of the totals.
    const cumulative = evidence.cumulative as { canary: ArmTotals; stable: ArmTotals };
    const maxLogE = st.maxLogE;
    const write = (): string => {
      const counts = describeCounts(cumulative.canary, cumulative.stable);
      const noise = phi >= 1.05 ? ` (discounted for fleet noise φ ${num(phi)})` : "";
      const since = leading.j > 0 ? `, most of it since ${formatDuration(leading.sinceMs)}` : "";
      const e = `e-value ${num(eValue)}${noise}${since}`;
      const nullText =
        config.maxIncrease !== undefined
          ? `stable + ${share(maxIncrease)}`
          : `${num(bound)} × stable`;
      const ratioBound = up
        ? `rate ratio ≤ ${ratioUpper === null ? "∞" : num(ratioUpper)}`
        : `rate ratio ≥ ${num(ratioLower)}`;
      const beyond = up ? `< ${num(bound)} = 1 + margin` : `> ${num(bound)} = 1 − margin`;
      const notYet =
        config.maxIncrease !== undefined
          ? `not yet shown within ${nullText}`
          : up
            ? `not yet below ${num(bound)}`
            : `not yet above ${num(bound)}`;
      let message: string;
      if (decision === "fail") {
        const against = `against "canary ${up ? "≤" : "≥"} ${nullText}"`;
        message =
          logE >= logThreshold
            ? `${counts}: ${e} ≥ ${num(1 / alpha)} = 1/α ${against}, rollback`
            : `${counts}: the e-value reached ${num(Math.exp(Math.min(maxLogE, 700)))} ≥ ${num(1 / alpha)} = 1/α earlier (now ${num(eValue)}), rollback stands`;
      } else if (decision === "pass") {
        message =
          bounded && enough
            ? `${counts} over ${formatDuration(bakedMs)}: ${ratioBound} (${confidence(alpha)} confidence sequence) ${beyond}, pass`
            : up
              ? `${counts} over ${formatDuration(bakedMs)}: canary share ≤ ${share(canaryShareBound as number)} (${confidence(alpha)} bound) within stable ≥ ${share(stableShareBound as number)} × ${num(bound)} + ${share(allowance)}, pass`
              : `${counts} over ${formatDuration(bakedMs)}: canary share ≥ ${share(canaryShareBound as number)} (${confidence(alpha)} bound) within stable ≤ ${share(stableShareBound as number)} × ${num(bound)} − ${share(allowance)}, pass`;
      } else {
        const why = !informative
          ? noTrafficReason(canary.requests, stable.requests)
          : !bounded
            ? `${ratioBound}, ${notYet}`
            : !baked
              ? `${ratioBound} ${beyond}, but no early pass before ${formatDuration(minBakeMs)}`
              : `${ratioBound} ${beyond}, but no early pass before ${MIN_PASS_CANARY_REQUESTS} canary requests and ${MIN_PASS_EVENTS} ${what}`;
        message = `${counts}: ${e} < ${num(1 / alpha)} = 1/α; ${why}; keep watching`;
      }
      return message;
    };
    let text: string | undefined;
    return {
      phase: decision === "fail" ? "Failed" : "Successful",
      value: eValue,
      get message() {
        text ??= write();
        return text;
      },
      evidence,
    };
  }

  function warmingUpVerdict(canary: ArmTotals, stable: ArmTotals): Verdict {
    const doneIn = (st.startedAt as number) + warmupMs - (st.lastTo as number);
    const seen = `canary ${what} ${canary.events}/${canary.requests} vs stable ${stable.events}/${stable.requests} in this interval`;
    return {
      phase: "Successful",
      value: null,
      message: `warming up: the first ${formatDuration(warmupMs)} is shown, not counted (${seen}); counting starts ${doneIn > 0 ? `in ${formatDuration(doneIn)}` : "with the next measurement"}`,
      evidence: baseEvidence({
        decision: "continue",
        warmingUp: true,
        warmupMs,
        interval: { canary, stable },
      }),
    };
  }

  function calibrate(stableArm: ArmObservation): Verdict {
    const sketch = stableArm.sketch;
    const q = maxRatio === undefined ? 0.99 : config.quantile;
    const factor = maxRatio === undefined ? SLOW_EDGE_P99_FACTOR : 1;
    const named = `p${num(100 * q)}`;
    const rule = factor === 1 ? `stable ${named}` : `stable ${named} × ${factor}`;
    if (sketch === undefined) {
      return error(
        "no slowThresholdMs is configured and the provider gives no stable latency distribution to fix one from; set judge.sequential.slowThresholdMs",
      );
    }
    if (!(sketch.count > 0)) {
      return {
        phase: "Successful",
        value: null,
        message: `no stable requests yet to fix the slow edge from (${rule}); keep watching`,
        evidence: baseEvidence({ decision: "continue", calibrating: true, noTraffic: true }),
      };
    }
    const quantile = sketch.getValueAtQuantile(q);
    if (!(Number.isFinite(quantile) && quantile > 0)) {
      return error(
        `the stable latency ${named} is not a positive number (${quantile}); cannot fix the slow edge`,
      );
    }
    st.slowEdgeMs = roundTwoDigits(quantile * factor);
    const canaryEdge =
      maxRatio === undefined ? "" : `, canary's at ${edges()[1]} ms (× ${maxRatio})`;
    return {
      phase: "Successful",
      value: null,
      message: `slow edge fixed at ${st.slowEdgeMs} ms (stable ${named} ${num(quantile)} ms${factor === 1 ? "" : ` × ${factor}`})${canaryEdge}; counting from the next measurement on`,
      evidence: baseEvidence({
        decision: "continue",
        calibrating: true,
        stableQuantileMs: quantile,
      }),
    };
  }

  function readArm(name: "canary" | "stable", arm: ArmObservation): ArmTotals | string {
    const requests = arm.requests;
    if (requests === undefined)
      return `the provider did not count ${name} requests; the sequential judge needs request counts`;
    if (!(Number.isFinite(requests) && requests >= 0))
      return `${name} requests is not a count ≥ 0: ${requests}`;
    let events: number | undefined;
    if (kind === "errors") {
      events = arm.errors;
      if (events === undefined)
        return `the provider did not count ${name} errors; the sequential judge needs error counts`;
    } else if (kind === "events") {
      events = arm.events;
      if (events === undefined)
        return `the provider did not count ${name} ${what}; the sequential judge needs the counts mode's events`;
    } else {
      // With maxRatio the canary is counted beyond the wider edge, stable beyond its quantile.
      const index = maxRatio !== undefined && name === "canary" ? 1 : 0;
      events = arm.slow?.[index];
      if (events === undefined) {
        return `the provider did not count ${name} requests slower than ${edges()[index]} ms; the sequential judge needs slow counts`;
      }
    }
    if (!(Number.isFinite(events) && events >= 0))
      return `${name} ${what} is not a count ≥ 0: ${events}`;
    if (events > requests)
      return `${name} ${what} (${events}) exceed its requests (${requests}); the provider's counts disagree`;
    return { requests, events };
  }

  return {
    type: "sequential",
    window: "interval",
    get slowEdgesMs(): readonly number[] {
      return kind === "latency" ? edges() : [];
    },
    judge,
    state(): unknown {
      return {
        ...st,
        canary: { ...st.canary },
        stable: { ...st.stable },
        mixture: mixture.snapshot(),
        dispersion: dispersion.snapshot(),
      };
    },
    restore(saved: unknown): void {
      const s = parseState(saved, restartMs);
      if (s.kind !== kind)
        throw new TypeError(`sequential state is for ${s.kind}, this judge counts ${kind}`);
      if (s.delta0 !== delta0 || s.gridSize !== grid.deltas.length) {
        throw new TypeError(
          "sequential state was saved with a different margin or grid; it cannot be continued",
        );
      }
      const nextMixture = new RestartMixture(grid, restartMs);
      const nextDispersion = new SplitDispersion(grid.deltas, priorS2);
      try {
        nextMixture.load(s.mixture);
        // A version 1 state has no dispersion sums: they start afresh.
        if (s.dispersion.sum.length > 0) nextDispersion.load(s.dispersion);
      } catch (err) {
        throw new TypeError(`not a sequential judge state: ${(err as Error).message}`);
      }
      mixture = nextMixture;
      dispersion = nextDispersion;
      st = { ...s, canary: { ...s.canary }, stable: { ...s.stable } };
    },
  };
}

/**
 * Reads a saved state; a version 1 state (one whole-run e-process, from before restarts and
 * dispersion) continues as the whole-run component, with the dispersion starting afresh.
 */
function parseState(saved: unknown, restartMs: number): SequentialState {
  const bad = (why: string): never => {
    throw new TypeError(`not a sequential judge state: ${why}`);
  };
  if (typeof saved !== "object" || saved === null) return bad("not an object");
  const s = saved as Record<string, unknown>;
  if (s.v !== 1 && s.v !== 2) bad(`unknown version ${String(s.v)}`);
  if (s.kind !== "errors" && s.kind !== "latency" && s.kind !== "events") bad("kind");
  const isNum = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x);
  const isNumOrNull = (x: unknown) => x === null || isNum(x);
  for (const k of ["delta0", "gridSize", "intervals", "maxLogE"]) if (!isNum(s[k])) bad(k);
  for (const k of ["startedAt", "lastTo", "slowEdgeMs", "failedAt"]) if (!isNumOrNull(s[k])) bad(k);
  for (const k of ["canary", "stable"]) {
    const arm = s[k] as Record<string, unknown> | null;
    if (typeof arm !== "object" || arm === null || !isNum(arm.requests) || !isNum(arm.events))
      bad(k);
  }
  if (s.v === 1) {
    if (!Array.isArray(s.L)) bad("L");
    const { L, ...rest } = s;
    return {
      ...(rest as unknown as SequentialState),
      v: 2,
      mixture: {
        everyMs: restartMs,
        origin: (s.startedAt as number | null) ?? null,
        components: [{ j: 0, L: L as number[] }],
      },
      dispersion: { sum: [], weight: [], score: [], intervals: 0 },
    };
  }
  if (typeof s.mixture !== "object" || s.mixture === null) bad("mixture");
  if (typeof s.dispersion !== "object" || s.dispersion === null) bad("dispersion");
  return s as unknown as SequentialState;
}

function noTrafficReason(canary: number, stable: number): string {
  if (canary === 0 && stable === 0)
    return "no requests on either arm in this interval, evidence unchanged";
  if (canary === 0)
    return `no canary requests in this interval (stable ${stable}), nothing to compare, evidence unchanged`;
  return `no stable requests in this interval (canary ${canary}), nothing to compare, evidence unchanged`;
}

function pct(arm: ArmTotals): string {
  if (arm.requests === 0) return "no requests";
  return `${num((100 * arm.events) / arm.requests)} %`;
}

/** A share as a percentage, two significant digits. */
function share(x: number): string {
  return `${num(100 * x)} %`;
}

/** Two significant digits, plainly written: 143, 2.5, 0.32, 1.1e+6 for very large. */
function num(x: number): string {
  if (x === 0) return "0";
  if (!Number.isFinite(x)) return String(x);
  if (Math.abs(x) >= 1e6) return x.toExponential(1);
  if (Math.abs(x) >= 100) return String(Math.round(x));
  return String(Number(x.toPrecision(2)));
}

function confidence(alpha: number): string {
  return `${Number((100 * (1 - alpha)).toPrecision(4))} %`;
}

/** Rounds to two significant digits (487.3 → 490, 1234 → 1200), never to 0. */
export function roundTwoDigits(x: number): number {
  const r = Number(x.toPrecision(2));
  return r > 0 ? r : x;
}
