/**
 * One uPlot chart. The canvas is drawn by uPlot; this component owns its life (created once,
 * fed new data in place, resized with its box, rebuilt when the colour scheme changes) and
 * gives it a text alternative, since a canvas says nothing to a screen reader. Stable is a
 * solid line and the canary a dashed one, so the two differ without colour.
 *
 * @module
 */

import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import { aligned, type ChartData, type ChartLine, isEmpty } from "./charts.js";
import { formatErrorRate, formatMs, formatRps, formatWeight } from "./format.js";
import { useDarkMode } from "./hooks.js";

export type ChartUnit = "percent" | "ms" | "rps" | "weight";

const FORMAT: Record<ChartUnit, (v: number | null) => string> = {
  percent: (v) => formatErrorRate(v === null ? null : v / 100),
  ms: formatMs,
  rps: formatRps,
  weight: (v) => (v === null ? "—" : formatWeight(v)),
};

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

function dashOf(line: ChartLine): number[] | undefined {
  if (line.role === "stable") return line.stat === "p50" ? [2, 4] : undefined;
  return line.stat === "p50" ? [8, 3, 2, 3] : [8, 4];
}

/** The weight line: a step at each change, filled below. */
function stepped(): Partial<uPlot.Series> {
  const paths = uPlot.paths.stepped?.({ align: 1 });
  return { ...(paths ? { paths } : {}), fill: cssVar("--chart-canary-fill") };
}

function options(data: ChartData, unit: ChartUnit, width: number, height: number): uPlot.Options {
  const axis = cssVar("--chart-axis");
  const grid = cssVar("--chart-grid");
  const fmt = FORMAT[unit];
  const colour = (l: ChartLine) =>
    cssVar(l.role === "stable" ? "--chart-stable" : "--chart-canary");
  return {
    width,
    height,
    cursor: { drag: { x: false, y: false } },
    legend: { show: true, live: true },
    scales: {
      x: { time: true },
      y: {
        range: (_u, _min, max): uPlot.Range.MinMax =>
          unit === "weight" ? [0, 100] : [0, max > 0 ? max * 1.15 : 1],
      },
    },
    axes: [
      { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } },
      {
        stroke: axis,
        grid: { stroke: grid, width: 1 },
        ticks: { stroke: grid, width: 1 },
        size: 64,
        values: (_u, splits) => splits.map((v) => fmt(v)),
      },
    ],
    series: [
      {},
      ...data.lines.map((l): uPlot.Series => {
        const dash = dashOf(l);
        return {
          label: l.label,
          stroke: colour(l),
          width: l.stat === "p50" ? 1.5 : 2,
          ...(dash ? { dash } : {}),
          spanGaps: false,
          points: { show: false },
          value: (_u, v) => fmt(v),
          ...(unit === "weight" ? stepped() : {}),
        };
      }),
    ],
  };
}

/** The latest value of each line, for the text alternative. */
function summary(title: string, data: ChartData, unit: ChartUnit): string {
  const parts = data.lines.map((l) => {
    const last = [...l.values].reverse().find((v) => v !== null) ?? null;
    return `${l.label} ${FORMAT[unit](last)}`;
  });
  return `${title}, latest: ${parts.join("; ")}`;
}

export function Chart({
  title,
  data,
  unit,
  height = 180,
}: {
  title: string;
  data: ChartData;
  unit: ChartUnit;
  height?: number;
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = useRef("");
  const drawn = useRef<ChartData | null>(null);
  const dark = useDarkMode();
  const empty = isEmpty(data);

  // (Re)build when the lines or the scheme change; otherwise only the data moves.
  const lineKey = `${data.lines.map((l) => l.label).join("|")}/${dark}/${unit}`;
  useEffect(() => {
    const el = box.current;
    if (el === null) return;
    if (plot.current !== null && shape.current === lineKey) {
      // Renders come every second while a countdown runs; redraw only for new data.
      if (drawn.current !== data) plot.current.setData(aligned(data) as uPlot.AlignedData);
      drawn.current = data;
      return;
    }
    plot.current?.destroy();
    shape.current = lineKey;
    plot.current = new uPlot(
      options(data, unit, Math.max(200, el.clientWidth), height),
      aligned(data) as uPlot.AlignedData,
      el,
    );
    drawn.current = data;
  });

  useEffect(() => {
    const el = box.current;
    if (el === null) return;
    const observer = new ResizeObserver(() => {
      const w = Math.max(200, el.clientWidth);
      if (plot.current !== null && plot.current.width !== w)
        plot.current.setSize({ width: w, height });
    });
    observer.observe(el);
    return () => {
      observer.disconnect();
      plot.current?.destroy();
      plot.current = null;
      shape.current = "";
    };
  }, [height]);

  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div ref={box} class="chart-box" role="img" aria-label={summary(title, data, unit)} />
      {empty && <p class="chart-empty muted">No requests in this window yet.</p>}
    </figure>
  );
}
