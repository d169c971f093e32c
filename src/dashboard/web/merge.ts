/**
 * Live updates folded into what a page shows. Events from the stream patch the service view at
 * once (phase, step, weight, reason), so the page moves the moment something happens; the page
 * then re-reads the view for the fields an event does not carry. A replay after a reconnection
 * repeats events the page already has: every merge here is idempotent and ignores anything
 * older than what it holds.
 *
 * @module
 */

import type { AnalysisRun, MeasurementMessage, Rollout, RolloutEvent, ServiceView } from "./api.js";

/** Most events a page keeps; older ones drop off the front. */
export const MAX_EVENTS = 5_000;

/** The history with `incoming` added: oldest first, one entry per seq, at most `max`. */
export function mergeEvents(
  history: readonly RolloutEvent[],
  incoming: readonly RolloutEvent[],
  max = MAX_EVENTS,
): RolloutEvent[] {
  if (incoming.length === 0) return history as RolloutEvent[];
  const last = history.at(-1)?.seq ?? Number.NEGATIVE_INFINITY;
  let merged: RolloutEvent[];
  if (
    incoming.every(
      (e, i) => e.seq > last && (i === 0 || e.seq > (incoming[i - 1] as RolloutEvent).seq),
    )
  ) {
    merged = [...history, ...incoming];
  } else {
    const bySeq = new Map<number, RolloutEvent>();
    for (const e of history) bySeq.set(e.seq, e);
    for (const e of incoming) bySeq.set(e.seq, e);
    merged = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
  }
  return merged.length > max ? merged.slice(merged.length - max) : merged;
}

/**
 * The view as the event says it is now. Only an event of the view's own rollout, no older than
 * the view, changes it; anything else (a new rollout, say) waits for the re-read view.
 */
export function applyEvent(view: ServiceView, e: RolloutEvent): ServiceView {
  if (e.service !== view.name) return view;
  const r = view.rollout;
  if (r === null || e.rolloutId !== r.id || e.at < r.updatedAt) return view;
  const stepChanged = e.stepIndex !== null && e.stepIndex !== r.stepIndex;
  let pausedAt = r.pausedAt;
  if (e.type === "paused") pausedAt = e.at;
  else if (e.type === "resumed" || e.phase === "Aborted" || e.phase === "Healthy") pausedAt = null;
  const rollout: Rollout = {
    ...r,
    phase: e.phase ?? r.phase,
    stepIndex: e.stepIndex ?? r.stepIndex,
    stepStartedAt: stepChanged ? e.at : r.stepStartedAt,
    pausedAt,
    reason: e.reason !== "" ? e.reason : r.reason,
    updatedAt: e.at,
    traffic: e.weight === null ? r.traffic : { ...r.traffic, weight: e.weight },
  };
  return {
    ...view,
    rollout,
    traffic: e.weight === null ? view.traffic : { ...view.traffic, weight: e.weight },
  };
}

/** A list of views with the event applied to its service's. */
export function applyEventToList(views: readonly ServiceView[], e: RolloutEvent): ServiceView[] {
  return views.map((v) => (v.name === e.service ? applyEvent(v, e) : v));
}

/**
 * The runs with a measurement from the stream added to its run, in seq order, once.
 * `known` is false when the run is not among them (a run that started since the page read
 * them): the page re-reads the analysis then.
 */
export function mergeMeasurement(
  runs: readonly AnalysisRun[],
  m: MeasurementMessage,
): { runs: AnalysisRun[]; known: boolean } {
  const at = runs.findIndex((r) => r.id === m.runId);
  if (at === -1) return { runs: runs as AnalysisRun[], known: false };
  const run = runs[at] as AnalysisRun;
  if (run.measurements.some((x) => x.seq === m.measurement.seq))
    return { runs: runs as AnalysisRun[], known: true };
  const measurements = [...run.measurements, m.measurement].sort((a, b) => a.seq - b.seq);
  const next = [...runs];
  next[at] = { ...run, measurements };
  return { runs: next, known: true };
}

/** The highest seq of a history, for Last-Event-ID; "" when there is none. */
export function lastSeq(history: readonly RolloutEvent[]): string {
  const last = history.at(-1);
  return last === undefined ? "" : String(last.seq);
}

/**
 * The fresher of the view the page holds and one just read: a read that started before an
 * event arrived may answer with the state before it. A different rollout always wins (a new
 * one started); for the same rollout, the later `updatedAt` does.
 */
export function fresherView(held: ServiceView | null, read: ServiceView): ServiceView {
  if (held === null) return read;
  const a = held.rollout;
  const b = read.rollout;
  if (a === null || b === null || a.id !== b.id) return read;
  return a.updatedAt > b.updatedAt ? held : read;
}
