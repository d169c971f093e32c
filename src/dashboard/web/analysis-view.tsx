/**
 * The current rollout's analysis runs, newest first, each measurement with its verdict, its
 * value next to the judge's sentence, and the evidence in words.
 *
 * @module
 */

import { useState } from "preact/hooks";
import {
  evidenceInWords,
  measurementValueText,
  newestFirst,
  runBadge,
  runTitle,
  verdictOf,
} from "./analysis.js";
import type { AnalysisRun } from "./api.js";
import { formatDateTime, formatWhen } from "./format.js";
import { BadgeView } from "./ui.js";

const SHOWN = 10;

function RunView({ run, now }: { run: AnalysisRun; now: number }) {
  const [all, setAll] = useState(false);
  const ms = all ? run.measurements : run.measurements.slice(0, SHOWN);
  return (
    <section class="run" aria-label={runTitle(run)}>
      <div class="run-head">
        <h3>{runTitle(run)}</h3>
        <BadgeView badge={runBadge(run)} />
      </div>
      {run.message !== "" && <p class="run-message">{run.message}</p>}
      {run.measurements.length === 0 ? (
        <p class="muted">No measurement yet.</p>
      ) : (
        <ol class="measurements">
          {ms.map((m) => (
            <li key={m.seq} class="measurement">
              <div class="m-head">
                <BadgeView badge={verdictOf(m)} />
                <span class="m-metric">{m.metric}</span>
                <span class="m-value">{measurementValueText(m)}</span>
                <time
                  class="m-time muted"
                  dateTime={new Date(m.finishedAt).toISOString()}
                  title={formatDateTime(m.finishedAt)}
                >
                  {formatWhen(m.finishedAt, now)}
                </time>
              </div>
              <p class="m-message">{m.message}</p>
              {(() => {
                const words = evidenceInWords(m.evidence);
                return words.length > 0 ? (
                  <ul class="m-evidence" aria-label="Evidence">
                    {words.map((w) => (
                      <li key={w}>{w}</li>
                    ))}
                  </ul>
                ) : null;
              })()}
            </li>
          ))}
        </ol>
      )}
      {run.measurements.length > SHOWN && (
        <button
          type="button"
          class="btn btn-small"
          onClick={() => setAll(!all)}
          aria-expanded={all}
        >
          {all ? "Show the latest only" : `Show all ${run.measurements.length} measurements`}
        </button>
      )}
    </section>
  );
}

export function AnalysisView({ runs, now }: { runs: readonly AnalysisRun[]; now: number }) {
  if (runs.length === 0)
    return (
      <p class="muted">
        This rollout has no analysis (its strategy names none, or none has started).
      </p>
    );
  return (
    <div class="runs">
      {newestFirst(runs).map((r) => (
        <RunView key={r.id} run={r} now={now} />
      ))}
    </div>
  );
}
