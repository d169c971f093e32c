/**
 * The rollout page of one service: where the rollout stands (phase, gate, countdown), the
 * operator's commands, the step timeline, the weight over time, canary against stable in
 * charts and figures, every analysis measurement, and the history.
 *
 * @module
 */

import { useCallback, useEffect, useMemo, useState } from "preact/hooks";
import { ActionBar, ActionButton, useConfirmedActions } from "./action-bar.js";
import { actionsFor } from "./actions.js";
import { AnalysisView } from "./analysis-view.js";
import type { ServiceMetrics, ServiceView, VersionMetrics } from "./api.js";
import { Chart } from "./chart.js";
import { metricChart, weightChart } from "./charts.js";
import { feedDeps, useShell } from "./context.js";
import { ServiceFeed, type ServicePageState } from "./feeds.js";
import {
  formatCountdown,
  formatDateTime,
  formatErrorRate,
  formatMs,
  formatNumber,
  formatRps,
  formatWeight,
  formatWhen,
} from "./format.js";
import { HistoryView } from "./history-view.js";
import { useNow, useVisible } from "./hooks.js";
import { attentionOf, healthOf, phaseBadge } from "./phase.js";
import { countdownOf, timelineOf } from "./timeline.js";
import { TimelineView } from "./timeline-view.js";
import { BadgeView, Icon, Notice, WeightBar } from "./ui.js";

function Figures({ metrics }: { metrics: ServiceMetrics }) {
  const rows: VersionMetrics[] = [...metrics.versions].sort(
    (a, b) => Number(a.role === "canary") - Number(b.role === "canary"),
  );
  return (
    <div class="figures">
      <table>
        <caption class="visually-hidden">Canary against stable over the last five minutes</caption>
        <thead>
          <tr>
            <th scope="col">Version</th>
            <th scope="col">Requests</th>
            <th scope="col">Errors</th>
            <th scope="col">Rate</th>
            <th scope="col">p50</th>
            <th scope="col">p99</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((v) => (
            <tr key={v.role} class={`row-${v.role}`}>
              <th scope="row">
                <span class={`swatch swatch-${v.role}`} aria-hidden="true" />
                {v.role} {v.version}
              </th>
              <td>{formatNumber(v.summary.requests, 0)}</td>
              <td>{formatErrorRate(v.summary.errorRate)}</td>
              <td>{formatRps(v.summary.rps)}</td>
              <td>{formatMs(v.summary.p50Ms)}</td>
              <td>{formatMs(v.summary.p99Ms)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Traffic({ view }: { view: ServiceView }) {
  const t = view.traffic;
  return (
    <>
      <WeightBar weight={t.canary ? t.weight : 0} label={`Canary weight of ${view.name}`} />
      {(t.headerRoutes.length > 0 || t.mirror !== null) && (
        <ul class="traffic-extras">
          {t.headerRoutes.map((h) => (
            <li key={h.name}>Header route {h.name} sends matching requests to the canary</li>
          ))}
          {t.mirror !== null && (
            <li>{formatWeight(t.mirror.percent)} of stable traffic mirrored to the canary</li>
          )}
        </ul>
      )}
    </>
  );
}

export function ServicePage({ name }: { name: string }) {
  const shell = useShell();
  const visible = useVisible();
  const [state, setState] = useState<ServicePageState | null>(null);
  const [feed, setFeed] = useState<ServiceFeed | null>(null);

  useEffect(() => {
    setState(null);
    const f = new ServiceFeed(name, feedDeps(shell, shell.announce), (s) => {
      setState(s);
      shell.setStreamStatus(s.stream);
      // The rollout's last change happened on the server before now: a floor for its clock.
      const at = Date.now();
      if (s.view?.rollout)
        shell.clock.observe({ sentAt: at, receivedAt: at, before: [s.view.rollout.updatedAt] });
    });
    setFeed(f);
    f.start();
    return () => f.stop();
  }, [name, shell]);
  useEffect(() => feed?.setVisible(visible), [feed, visible]);

  const view = state?.view ?? null;
  const r = view?.rollout ?? null;
  const serverNow = useCallback(() => shell.clock.now(), [shell]);
  // Tick every second while a countdown runs; every 15 s otherwise (relative times, the weight line).
  const ticking = r !== null && countdownOf(r, serverNow()) !== null;
  const now = useNow(serverNow, ticking ? 1000 : 15_000);
  const reread = useCallback(() => feed?.reread(), [feed]);
  const { ask, dialog } = useConfirmedActions(name, reread);

  const timeline = useMemo(() => (r === null ? [] : timelineOf(r, now)), [r, now]);
  const weights = useMemo(
    () => (r === null || state === null ? null : weightChart(state.history, r, now)),
    [r, state?.history, now],
  );
  const charts = useMemo(
    () =>
      state?.metrics == null
        ? null
        : {
            errors: metricChart(state.metrics, "errors"),
            latency: metricChart(state.metrics, "latency"),
            rate: metricChart(state.metrics, "rate"),
          },
    [state?.metrics],
  );

  if (state === null || (view === null && state.error === null))
    return <p class="muted">Loading {name}…</p>;
  if (view === null)
    return (
      <>
        <a class="back" href="#/">
          <Icon name="back" /> All services
        </a>
        <Notice kind="error">{state.error}</Notice>
      </>
    );

  const actions = actionsFor(view, shell.who.role);
  const gateActions = actions.filter((a) => a.kind === "open-gate");
  const otherActions = actions.filter((a) => a.kind !== "open-gate");
  const attention = attentionOf(view, healthOf(state.metrics ?? undefined));
  const waiting = r?.gates.waiting ?? null;
  const countdown = r === null ? null : countdownOf(r, now);
  const strategyGates =
    r === null
      ? []
      : ((r.strategy as { gates?: Array<{ name: string; type: string }> }).gates ?? []);

  return (
    <article aria-labelledby="service-title">
      <a class="back" href="#/">
        <Icon name="back" /> All services
      </a>
      <header class="page-head service-head">
        <h1 id="service-title">{view.name}</h1>
        <BadgeView badge={phaseBadge(view)} testId="phase" />
      </header>
      <p class="lede">
        {r === null ? (
          <>stable {view.traffic.stable.version}; no rollout yet</>
        ) : (
          <>
            <span>
              {r.stable.version} <span aria-hidden="true">→</span>
              <span class="visually-hidden">to</span> {r.canary.version}
            </span>
            <span class="muted">
              {" "}
              · rollout <code>{r.id}</code> · started{" "}
              <time
                dateTime={new Date(r.createdAt).toISOString()}
                title={formatDateTime(r.createdAt)}
              >
                {formatWhen(r.createdAt, now)}
              </time>
            </span>
          </>
        )}
      </p>
      {r !== null && (
        <p class="reason" data-testid="reason">
          {r.reason}
        </p>
      )}
      {state.error !== null && <Notice kind="error">{state.error}</Notice>}

      {waiting !== null && r !== null && r.phase !== "Aborted" && r.phase !== "Healthy" && (
        <div class="banner banner-waiting" role="status" data-testid="gate-banner">
          <Icon name="gate" size={20} />
          <div>
            <p>
              <strong>Waiting at gate {waiting.gates.join(", ")}</strong>{" "}
              {waiting.point === "start"
                ? "before any traffic moves"
                : waiting.point === "promotion"
                  ? "before promotion"
                  : "before the next weight increase"}
              , since {formatWhen(waiting.since, now)}.
            </p>
            <p class="muted">
              {waiting.gates
                .map((g) => {
                  const spec = strategyGates.find((s) => s.name === g);
                  return `${g}: ${spec?.type.replace(/-/g, " ") ?? "gate"}`;
                })
                .join("; ")}
            </p>
            {gateActions.length > 0 && (
              <div class="banner-actions">
                {gateActions.map((a) => (
                  <ActionButton
                    key={a.gate}
                    // One gate: "Open gate" next to its name; several: each button names its own.
                    action={gateActions.length === 1 ? { ...a, label: "Open gate" } : a}
                    onClick={() => ask(a)}
                  />
                ))}
              </div>
            )}
          </div>
        </div>
      )}
      {attention !== null && attention.kind !== "waiting" && (
        <div class={`banner banner-${attention.kind}`} role="status">
          <Icon name={attention.kind === "paused" ? "pause" : "warning"} size={20} />
          <p>
            <strong>
              {attention.kind === "aborted"
                ? "Aborted"
                : attention.kind === "paused"
                  ? "Paused"
                  : "Failing"}
              :
            </strong>{" "}
            {attention.text}
          </p>
        </div>
      )}
      {countdown !== null && (
        <p class="status-line" role="timer" aria-live="off">
          <Icon name="pause" /> {countdown.kind === "hold" ? "Promotion hold" : "Timed pause"}:{" "}
          {countdown.leftMs > 0 ? `${formatCountdown(countdown.leftMs)} left` : "ending"}
          {countdown.frozen ? " (frozen while paused)" : ""}
        </p>
      )}

      <ActionBar actions={otherActions} onAction={ask} />
      {dialog}

      <div class="rollout-layout">
        <section class="card steps-card" aria-labelledby="steps-title">
          <h2 id="steps-title">Steps</h2>
          {r === null ? (
            <p class="muted">No rollout: deploy a canary to start one.</p>
          ) : (
            <TimelineView items={timeline} />
          )}
        </section>
        <div class="main-col">
          <section class="card" aria-labelledby="compare-title">
            <h2 id="compare-title">Canary against stable, last 5 minutes</h2>
            {state.metricsError !== null && (
              <Notice kind="warning">Metrics: {state.metricsError}</Notice>
            )}
            {state.metrics !== null && <Figures metrics={state.metrics} />}
            {charts !== null ? (
              <div class="charts">
                <Chart title="Error rate" data={charts.errors} unit="percent" />
                <Chart title="Latency (p50 and p99)" data={charts.latency} unit="ms" />
                <Chart title="Request rate" data={charts.rate} unit="rps" />
              </div>
            ) : (
              state.metricsError === null && <p class="muted">Loading metrics…</p>
            )}
          </section>
          <section class="card" aria-labelledby="traffic-title">
            <h2 id="traffic-title">Traffic</h2>
            <Traffic view={view} />
            {weights !== null && (
              <Chart
                title="Canary weight over the rollout"
                data={weights}
                unit="weight"
                height={140}
              />
            )}
          </section>
          <section class="card" aria-labelledby="analysis-title">
            <h2 id="analysis-title">Analysis</h2>
            <AnalysisView runs={state.runs} now={now} />
          </section>
          <section class="card" aria-labelledby="history-title">
            <h2 id="history-title">History</h2>
            <HistoryView events={state.history} now={now} />
          </section>
        </div>
      </div>
    </article>
  );
}
