/**
 * The history checker of the HA fault tests and `bench:failover`: reads a service's whole
 * history (from any instance's API: every instance reads the same table) and says, per rollout,
 * which transitions were recorded twice (a leader that wrote after it lost the lease, or a new
 * leader that redid a step) and which were lost (a step skipped).
 *
 * A transition is an event of a rollout that changes it: `rollout.started`, `step.started`,
 * `weight.set`, `route.set`, `promoted`, `aborted`... Its identity is `type:stepIndex:weight`:
 * a rollout without operator commands records each at most once (the state machine moves
 * forward only). Convergence reports (`traffic.*`) and gate notifications (`gate.told`) are
 * not transitions: each new leader re-applies and may say so again.
 *
 * Lost transitions are counted against the sequence the strategy implies
 * ({@link expectedTransitions}): what is recorded must be that sequence, or a prefix of it while
 * the rollout is still going or was aborted; an expected transition missing before the last
 * one recorded (or anywhere, for a promoted rollout) is lost. Aborts are reported with their
 * reason: the checker does not judge why a rollout ended.
 *
 * @module
 */

export interface HistoryEvent {
  seq: number;
  rolloutId: string | null;
  type: string;
  stepIndex: number | null;
  weight: number | null;
  at?: number;
  reason?: string;
  actor?: string;
}

/** Events that report on the data plane or notify, not transitions of the rollout. */
const NOT_TRANSITIONS = /^(traffic\.|gate\.told$|fleet\.|service\.)/;

export const shapeOf = (e: HistoryEvent): string =>
  `${e.type}:${e.stepIndex ?? "-"}:${e.weight ?? "-"}`;

/** One step of a strategy, as the spec writes it (only what the checker needs). */
export type StepInput =
  | { setWeight: number }
  | { pause: { duration?: string } }
  | { setHeaderRoute: { name: string; match?: unknown } }
  | Record<string, unknown>;

/**
 * The transitions an uninterrupted rollout of `steps` records, in order, when nothing goes
 * wrong and nobody intervenes: started at step 0, each step entered (`step.started`), each
 * setWeight that changes the weight (`weight.set`), then the promotion stage (step
 * `steps.length`): full weight and `promoted` (recorded with weight 0: the canary is stable now).
 */
export function expectedTransitions(steps: readonly StepInput[]): string[] {
  const out: string[] = [];
  let weight = 0;
  const n = steps.length;
  for (let i = 0; i <= n; i++) {
    out.push(i === 0 ? `rollout.started:0:${weight}` : `step.started:${i}:${weight}`);
    const step = steps[i];
    if (step === undefined) break;
    if ("setWeight" in step && typeof step.setWeight === "number" && step.setWeight !== weight) {
      weight = step.setWeight;
      out.push(`weight.set:${i}:${weight}`);
    } else if ("setHeaderRoute" in step) {
      const r = step.setHeaderRoute as { match?: unknown };
      out.push(`${r.match === undefined ? "route.removed" : "route.set"}:${i}:${weight}`);
    }
  }
  if (weight !== 100) out.push(`weight.set:${n}:100`);
  // A promoted rollout's canary is the new stable: no canary, weight 0.
  out.push(`promoted:${n}:0`);
  return out;
}

export interface RolloutCheck {
  rolloutId: string;
  /** The transitions as recorded, in order. */
  recorded: string[];
  /** Each transition recorded more than once, with the seqs that recorded it. */
  duplicates: Array<{ shape: string; seqs: number[] }>;
  /** Expected transitions missing before the last one recorded (or after it, if finished). */
  lost: string[];
  /** Recorded transitions the strategy does not explain (reported, not counted as lost). */
  unexpected: string[];
  finished: boolean;
  /** The abort's reason and actor, when the rollout was aborted (an end, not a lost step). */
  aborted: string | null;
}

export interface HistoryCheck {
  rollouts: RolloutCheck[];
  duplicateTransitions: number;
  lostTransitions: number;
  /** Whether seqs are strictly increasing and each appears once. */
  seqsOrdered: boolean;
}

/**
 * Checks a service's history against `expected` (see {@link expectedTransitions}).
 * `expectedFor` may give a different sequence per rollout (rollouts of different strategies).
 */
export function checkHistory(
  events: readonly HistoryEvent[],
  expected: readonly string[] | ((rolloutId: string) => readonly string[]),
): HistoryCheck {
  let seqsOrdered = true;
  for (let i = 1; i < events.length; i++)
    if ((events[i]?.seq ?? 0) <= (events[i - 1]?.seq ?? 0)) seqsOrdered = false;
  const byRollout = new Map<string, HistoryEvent[]>();
  for (const e of events) {
    if (e.rolloutId === null || NOT_TRANSITIONS.test(e.type)) continue;
    const list = byRollout.get(e.rolloutId) ?? [];
    list.push(e);
    byRollout.set(e.rolloutId, list);
  }
  const rollouts: RolloutCheck[] = [];
  for (const [rolloutId, list] of byRollout) {
    const want = typeof expected === "function" ? expected(rolloutId) : expected;
    const recorded = list.map(shapeOf);
    const seqsOf = new Map<string, number[]>();
    for (const e of list) seqsOf.set(shapeOf(e), [...(seqsOf.get(shapeOf(e)) ?? []), e.seq]);
    const duplicates = [...seqsOf]
      .filter(([, seqs]) => seqs.length > 1)
      .map(([shape, seqs]) => ({ shape, seqs }));
    const finished = recorded.some((s) => /^(promoted|aborted):/.test(s));
    const abort = list.find((e) => e.type === "aborted");
    // An aborted rollout stops early on purpose: only a promotion vouches for every step.
    const promoted = recorded.some((s) => s.startsWith("promoted:"));
    const seen = new Set(recorded);
    // How far into the expected sequence the history got: the last expected shape recorded.
    let reached = -1;
    want.forEach((s, i) => {
      if (seen.has(s)) reached = i;
    });
    const upTo = promoted ? want.length - 1 : reached;
    const lost = want.slice(0, upTo + 1).filter((s) => !seen.has(s));
    const wanted = new Set(want);
    const unexpected = [...seen].filter((s) => !wanted.has(s));
    const aborted = abort === undefined ? null : `${abort.actor ?? "?"}: ${abort.reason ?? ""}`;
    rollouts.push({ rolloutId, recorded, duplicates, lost, unexpected, finished, aborted });
  }
  return {
    rollouts,
    duplicateTransitions: rollouts.reduce(
      (n, r) => n + r.duplicates.reduce((m, d) => m + d.seqs.length - 1, 0),
      0,
    ),
    lostTransitions: rollouts.reduce((n, r) => n + r.lost.length, 0),
    seqsOrdered,
  };
}

/** Every event of `service` from an instance's API, paging through the history. */
export async function readHistory(
  admin: string,
  token: string,
  service: string,
): Promise<HistoryEvent[]> {
  const out: HistoryEvent[] = [];
  let after = 0;
  for (;;) {
    const res = await fetch(
      `${admin}/api/v1/events?service=${encodeURIComponent(service)}&after=${after}&limit=1000`,
      { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) },
    );
    if (!res.ok)
      throw new Error(`history of ${service} from ${admin}: ${res.status} ${await res.text()}`);
    const page = ((await res.json()) as { events: HistoryEvent[] }).events;
    out.push(...page);
    const last = page.at(-1);
    if (page.length < 1_000 || last === undefined) return out;
    after = last.seq;
  }
}
