import { type Command, Option } from "commander";
import { DEMO_ENGINES, type DemoEngine, ENGINE_NAMES } from "../../demo/dataplane.js";
import { colours, type Paint, plain } from "../../demo/narrate.js";
import { formatSummary } from "../../demo/summary.js";
import { AviaryError } from "../../errors.js";
import { createLogger } from "../../util/log.js";
import { EXIT } from "../exit.js";

interface DemoOptions {
  listen: string;
  admin: string;
  exit?: boolean;
  rate: string;
  color: boolean;
  dataplane: DemoEngine;
  flags?: boolean;
}

export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description(
      "Run the whole idea on this machine: a sample shop in three versions behind Aviary, users sending traffic, a bad version rolled back by the analysis and a good one promoted.",
    )
    .option(
      "--listen <host:port>",
      "where the users' traffic goes (the router's, or the engine's, address)",
      "127.0.0.1:8080",
    )
    .option("--admin <host:port>", "admin address (API and dashboard)", "127.0.0.1:9900")
    .option("--exit", "end after the summary, with exit code 0 if the story went as planned")
    .option("--rate <n>", "requests per second the demo's users send", "150")
    .option(
      "--flags",
      "the flag chapter instead: a feature flag rolled out in steps and switched off by the analysis, the deployment untouched",
    )
    .option("--no-color", "no colours, even on a terminal")
    .addOption(
      new Option(
        "--dataplane <engine>",
        "who carries the users' traffic: Aviary's own router, or a real HAProxy or nginx the demo starts (Aviary then only decides)",
      )
        .choices(DEMO_ENGINES)
        .default("embedded"),
    )
    .addHelpText(
      "after",
      "\nExamples:\n  aviary demo                 # then open the dashboard URL it prints\n  aviary demo --exit          # for scripts: exit code 0 when v2 was caught and v3 promoted\n  aviary demo --listen 127.0.0.1:0 --admin 127.0.0.1:0   # any free ports\n  aviary demo --dataplane haproxy   # HAProxy carries the traffic (or nginx)\n  aviary demo --flags --exit  # the flag chapter: exit code 0 when the analysis switched the flag off",
    )
    .action(async (opts: DemoOptions) => {
      const rate = Number(opts.rate);
      if (!Number.isFinite(rate) || rate < 10 || rate > 5_000) {
        throw new AviaryError("AVIARY_USAGE", "--rate must be a number from 10 to 5000");
      }
      const engine = opts.dataplane;
      const paint = opts.color && process.stdout.isTTY && !process.env.NO_COLOR ? colours : plain;
      const write = (line: string) => process.stdout.write(`${line}\n`);
      if (opts.flags) {
        if (engine !== "embedded")
          throw new AviaryError("AVIARY_USAGE", "--flags runs on the embedded router only");
        await flagChapter(opts, rate, paint, write);
        return;
      }
      // Loaded here, not at the top: every other verb would pay for the whole server at start.
      const { startDemo } = await import("../../demo/story.js");
      if (engine !== "embedded") await checkEngineInstalled(engine);
      const demo = await startDemo({
        listen: opts.listen,
        admin: opts.admin,
        rate,
        dataplane: engine,
        log: createLogger("warn"),
        paint,
        write,
      }).catch((err: unknown) => {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "EADDRINUSE") {
          throw new AviaryError(
            "AVIARY_USAGE",
            `${(err as Error).message}: another program uses that port; pass --listen / --admin (127.0.0.1:0 picks free ports)`,
          );
        }
        throw err;
      });
      let closing: Promise<void> | undefined;
      const stop = (code: number) => {
        closing ??= demo.close().finally(() => process.exit(code));
        return closing;
      };
      process.once("SIGINT", () => void stop(EXIT.ok));
      process.once("SIGTERM", () => void stop(EXIT.ok));

      write(paint.bold("Aviary demo"));
      write("");
      write(`  dashboard  ${demo.dashboardUrl}`);
      write(`  token      ${demo.token}    (paste it into the dashboard to act on rollouts)`);
      write(`  router     ${demo.routerUrl}/shop/`);
      if (demo.enginePid !== undefined)
        write(
          `  engine     ${ENGINE_NAMES[engine]} (pid ${demo.enginePid}) carries the users' traffic; Aviary only decides`,
        );
      write(
        `  CLI        AVIARY_SERVER=${new URL(demo.dashboardUrl).origin} AVIARY_TOKEN=${demo.token} aviary get shop --watch`,
      );
      write("");
      write(
        "The story: v2 (more errors, slower) is deployed and should be rolled back by the analysis on its own; then v3 (healthy) goes 5 → 25 → 50 → 100 % and is promoted.",
      );
      write("");
      const outcome = await demo.run();
      write(formatSummary(outcome, paint));
      if (opts.exit) {
        await stop(outcome.ok ? EXIT.ok : EXIT.failed);
        return;
      }
      write("");
      write(`The users keep sending traffic; the dashboard stays up at ${demo.dashboardUrl}`);
      write("Ctrl-C stops everything.");
      await new Promise(() => {});
    });
}

/** `aviary demo --flags`: the flag chapter, told as the deployment story is. */
async function flagChapter(
  opts: DemoOptions,
  rate: number,
  paint: Paint,
  write: (line: string) => void,
): Promise<void> {
  const { startFlagDemo, FLAG_SUBJECT } = await import("../../demo/flag-story.js");
  const { formatFlagSummary } = await import("../../demo/flag-summary.js");
  const demo = await startFlagDemo({
    listen: opts.listen,
    admin: opts.admin,
    rate,
    log: createLogger("warn"),
    paint,
    write,
  }).catch(portInUse);
  let closing: Promise<void> | undefined;
  const stop = (code: number) => {
    closing ??= demo.close().finally(() => process.exit(code));
    return closing;
  };
  process.once("SIGINT", () => void stop(EXIT.ok));
  process.once("SIGTERM", () => void stop(EXIT.ok));
  const cli = `AVIARY_SERVER=${new URL(demo.dashboardUrl).origin} AVIARY_TOKEN=${demo.token} aviary`;
  write(paint.bold("Aviary demo: the flag chapter"));
  write("");
  write(`  dashboard  ${demo.dashboardUrl}`);
  write(`  token      ${demo.token}    (paste it into the dashboard to act on rollouts)`);
  write(`  router     ${demo.routerUrl}/shop/`);
  write(`  CLI        ${cli} get ${FLAG_SUBJECT} --watch`);
  write(`             ${cli} history ${FLAG_SUBJECT}`);
  write("");
  write(
    "The story: the shop stays on v1 and a feature flag, new-checkout, is rolled out to beta testers, then 10 % and 50 % of users, an analysis of the errors the shop reports per variant guarding each step. The new checkout fails one request in five: the analysis should switch the flag off for everyone on its own, without touching the deployment.",
  );
  write("");
  const outcome = await demo.run();
  write(formatFlagSummary(outcome, paint));
  if (opts.exit) {
    await stop(outcome.ok ? EXIT.ok : EXIT.failed);
    return;
  }
  write("");
  write(`See it from the CLI: ${cli} history ${FLAG_SUBJECT}`);
  write(`The users keep sending traffic; the dashboard stays up at ${demo.dashboardUrl}`);
  write("Ctrl-C stops everything.");
  await new Promise(() => {});
}

function portInUse(err: unknown): never {
  if ((err as NodeJS.ErrnoException).code === "EADDRINUSE") {
    throw new AviaryError(
      "AVIARY_USAGE",
      `${(err as Error).message}: another program uses that port; pass --listen / --admin (127.0.0.1:0 picks free ports)`,
    );
  }
  throw err;
}

/** A missing engine stops the demo before anything starts, with the command that installs it. */
async function checkEngineInstalled(engine: Exclude<DemoEngine, "embedded">): Promise<void> {
  try {
    if (engine === "haproxy") {
      const { haproxyBinary } = await import("../../providers/traffic/haproxy/process.js");
      haproxyBinary();
    } else {
      const { nginxBinary, nginxModuleDir } = await import(
        "../../providers/traffic/nginx/process.js"
      );
      nginxBinary();
      nginxModuleDir();
    }
  } catch (err) {
    throw new AviaryError("AVIARY_ENGINE_MISSING", (err as Error).message, { cause: err });
  }
}
