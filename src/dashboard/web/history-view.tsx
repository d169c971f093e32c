/**
 * The service's history, newest first: when, what, the weight after it, who, and why.
 *
 * @module
 */

import { useState } from "preact/hooks";
import type { RolloutEvent } from "./api.js";
import { eventName, formatDateTime, formatWeight, formatWhen } from "./format.js";

const PAGE = 50;

export function HistoryView({ events, now }: { events: readonly RolloutEvent[]; now: number }) {
  const [shown, setShown] = useState(PAGE);
  if (events.length === 0) return <p class="muted">Nothing has happened to this service yet.</p>;
  const newest = [...events].reverse();
  const visible = newest.slice(0, shown);
  return (
    <>
      <ol class="history" data-testid="history">
        {visible.map((e) => (
          <li key={e.seq} class="history-item">
            <time
              class="h-time"
              dateTime={new Date(e.at).toISOString()}
              title={formatDateTime(e.at)}
            >
              {formatWhen(e.at, now)}
            </time>
            <span class="h-type">{eventName(e.type)}</span>
            <span class="h-weight">{e.weight === null ? "" : formatWeight(e.weight)}</span>
            <span class="h-actor">{e.actor}</span>
            <span class="h-reason">{e.reason}</span>
          </li>
        ))}
      </ol>
      {newest.length > shown && (
        <button type="button" class="btn btn-small" onClick={() => setShown(shown + PAGE * 4)}>
          Show {Math.min(PAGE * 4, newest.length - shown)} older events
        </button>
      )}
    </>
  );
}
