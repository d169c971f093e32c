/**
 * The overview: every service as a card (phase, versions, weight, health at a glance), what
 * needs a person first, filtered by words and by phase. Filters live in the URL fragment, so a
 * filtered view can be shared.
 *
 * @module
 */

import { useEffect, useMemo, useState } from "preact/hooks";
import type { ServiceView } from "./api.js";
import { feedDeps, useShell } from "./context.js";
import { OverviewFeed, type OverviewState } from "./feeds.js";
import { useVisible } from "./hooks.js";
import {
  type Attention,
  attentionOf,
  type Health,
  healthOf,
  healthText,
  matchesFilter,
  overviewOrder,
  PHASE_FILTERS,
  type PhaseFilter,
  phaseBadge,
  stepText,
} from "./phase.js";
import { overviewHash, serviceHash } from "./route.js";
import { BadgeView, Icon, Notice, WeightBar } from "./ui.js";

const FILTER_WORDS: Record<PhaseFilter, string> = {
  all: "All",
  active: "Active",
  paused: "Paused",
  waiting: "Waiting",
  failing: "Failing",
};

const ATTENTION_WORDS: Record<Attention["kind"], string> = {
  aborted: "Aborted",
  failing: "Failing",
  waiting: "Waiting",
  paused: "Paused",
};

interface Row {
  view: ServiceView;
  health: Health;
  attention: Attention | null;
}

function ServiceCard({ row }: { row: Row }) {
  const { view, health, attention } = row;
  const t = view.traffic;
  const r = view.rollout;
  const canary =
    t.canary?.version ?? (r !== null && r.phase !== "Healthy" ? r.canary.version : null);
  return (
    <li
      class={`card service-card${attention ? ` attention attention-${attention.kind}` : ""}`}
      data-testid={`service-${view.name}`}
    >
      <div class="card-head">
        <h2>
          <a href={serviceHash(view.name)}>{view.name}</a>
        </h2>
        <BadgeView badge={phaseBadge(view)} />
      </div>
      {attention !== null && (
        // Coloured by its own class, not the card's: a card that moves in the list may keep
        // its children's old styles in Chromium.
        <p class={`attention-line attention-line-${attention.kind}`}>
          <Icon name="warning" />
          <span>
            <strong>{ATTENTION_WORDS[attention.kind]}:</strong> {attention.text}
          </span>
        </p>
      )}
      <dl class="facts">
        <div>
          <dt>Stable</dt>
          <dd>{t.stable.version}</dd>
        </div>
        <div>
          <dt>Canary</dt>
          <dd>{canary ?? "—"}</dd>
        </div>
        {r !== null && (
          <div>
            <dt>Where</dt>
            <dd>{stepText(view)}</dd>
          </div>
        )}
      </dl>
      <WeightBar weight={t.canary ? t.weight : 0} label={`Canary weight of ${view.name}`} />
      <p class={`health health-${health.kind}`}>
        <Icon
          name={health.kind === "worse" ? "warning" : health.kind === "ok" ? "check" : "dot"}
          size={14}
        />
        <span>
          <span class="visually-hidden">Health over the last minute: </span>
          {healthText(health)}
        </span>
      </p>
    </li>
  );
}

export function Overview({ q, phase }: { q: string; phase: PhaseFilter }) {
  const shell = useShell();
  const visible = useVisible();
  const [state, setState] = useState<OverviewState | null>(null);
  const [feed, setFeed] = useState<OverviewFeed | null>(null);
  const [text, setText] = useState(q);
  const [filter, setFilter] = useState<PhaseFilter>(phase);

  useEffect(() => {
    const f = new OverviewFeed(feedDeps(shell, shell.announce), (s) => {
      setState(s);
      shell.setStreamStatus(s.stream);
    });
    setFeed(f);
    f.start();
    return () => f.stop();
  }, [shell]);
  useEffect(() => feed?.setVisible(visible), [feed, visible]);
  useEffect(() => {
    // Replace, not push: typing in the search box should not fill the back button's history.
    history.replaceState(null, "", overviewHash(text, filter));
  }, [text, filter]);

  const rows = useMemo((): Row[] => {
    if (state?.views == null) return [];
    return state.views
      .map((view) => {
        const health = healthOf(state.metrics[view.name]);
        return { view, health, attention: attentionOf(view, health) };
      })
      .sort(overviewOrder);
  }, [state]);
  const counts = useMemo(() => {
    const c = {} as Record<PhaseFilter, number>;
    for (const f of PHASE_FILTERS)
      c[f] = rows.filter((r) => matchesFilter(r.view, r.health, f, text)).length;
    return c;
  }, [rows, text]);
  const shown = rows.filter((r) => matchesFilter(r.view, r.health, filter, text));

  return (
    <section aria-labelledby="overview-title">
      <div class="page-head">
        <h1 id="overview-title">Services</h1>
        {state?.views != null && (
          <span class="muted" aria-live="polite">
            {shown.length} of {rows.length} shown
          </span>
        )}
      </div>
      <search>
        <form class="filters" onSubmit={(e) => e.preventDefault()}>
          <div class="field field-inline">
            <label for="filter-text">Search</label>
            <input
              id="filter-text"
              type="search"
              placeholder="service or version"
              value={text}
              onInput={(e) => setText((e.target as HTMLInputElement).value)}
            />
          </div>
          <fieldset class="segmented">
            <legend class="visually-hidden">Phase</legend>
            {PHASE_FILTERS.map((f) => (
              <label key={f} class={filter === f ? "on" : ""}>
                <input
                  type="radio"
                  name="phase"
                  value={f}
                  checked={filter === f}
                  onChange={() => setFilter(f)}
                />
                <span>
                  {FILTER_WORDS[f]} <span class="count">{counts[f]}</span>
                </span>
              </label>
            ))}
          </fieldset>
        </form>
      </search>
      {state?.error != null && <Notice kind="error">{state.error}</Notice>}
      {state?.views == null ? (
        state?.error == null && <p class="muted">Loading services…</p>
      ) : rows.length === 0 ? (
        <p class="muted">
          No services yet: apply a spec with <code>aviary apply</code>.
        </p>
      ) : shown.length === 0 ? (
        <p class="muted">No service matches these filters.</p>
      ) : (
        <ul class="service-grid">
          {shown.map((row) => (
            <ServiceCard key={row.view.name} row={row} />
          ))}
        </ul>
      )}
    </section>
  );
}
