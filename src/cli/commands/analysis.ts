import type { Command } from "commander";
import type { MeasurementRecord } from "../../store/store.js";
import {
  clientFor,
  positiveIntArg,
  printData,
  type ServerVerbOptions,
  withServerOptions,
} from "../options.js";
import type { AnalysisRun } from "../watch/status.js";

export function registerAnalysis(program: Command): void {
  withServerOptions(
    program
      .command("analysis <service>")
      .description(
        "The analysis runs of the service's current rollout: every measurement, its verdict and why.",
      )
      .option("--last <n>", "show only the last N measurements of each metric", positiveIntArg, 10)
      .addHelpText(
        "after",
        "\nExample:\n  aviary analysis checkout --last 3\n  aviary analysis checkout -o json",
      ),
  ).action(async (service: string, opts: ServerVerbOptions & { last: number }) => {
    const { runs } = await clientFor(opts).call<{ runs: AnalysisRun[] }>(
      "GET",
      `/api/v1/services/${encodeURIComponent(service)}/analysis`,
    );
    if (printData(opts.output, { runs })) return;
    if (runs.length === 0) {
      process.stdout.write(`${service}: no analysis runs for the current rollout\n`);
      return;
    }
    const lines: string[] = [];
    for (const run of runs) {
      lines.push(
        `${run.kind === "inline" ? `step ${(run.stepIndex ?? 0) + 1} analysis` : "background analysis"}  ${run.phase}: ${run.message}  (${run.id})`,
      );
      const byMetric = new Map<string, MeasurementRecord[]>();
      for (const m of run.measurements)
        byMetric.set(m.metric, [...(byMetric.get(m.metric) ?? []), m]);
      for (const [metric, ms] of byMetric) {
        lines.push(`  ${metric}: ${ms.length} measurements`);
        for (const m of ms.slice(-opts.last)) {
          const at = new Date(m.finishedAt).toISOString().slice(11, 19);
          lines.push(`    ${at}  ${m.phase.padEnd(12)} ${m.message}`);
        }
      }
    }
    process.stdout.write(`${lines.join("\n")}\n`);
  });
}
