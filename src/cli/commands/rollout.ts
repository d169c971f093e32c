/**
 * The verbs that act on a service's rollout through the API: deploy, promote, pause, resume,
 * abort, retry and undo.
 *
 * @module
 */

import type { Command } from "commander";
import type { Rollout } from "../../rollout/types.js";
import type { ClientOptions } from "../client.js";
import { formatService, type ServiceView } from "../format.js";
import { clientFor, printJson, withServerOptions } from "../options.js";

type Opts = ClientOptions & { output: string };

async function show(opts: Opts, service: string, result: unknown): Promise<void> {
  if (opts.output === "json") return printJson(result);
  const view = await clientFor(opts).call<ServiceView>(
    "GET",
    `/api/v1/services/${encodeURIComponent(service)}`,
  );
  process.stdout.write(`${formatService(view)}\n`);
}

const path = (service: string, verb: string) =>
  `/api/v1/services/${encodeURIComponent(service)}/${verb}`;

export function registerRolloutVerbs(program: Command): void {
  withServerOptions(
    program
      .command("deploy <service>")
      .description("Start a rollout of a new canary version (supersedes an active rollout).")
      .requiredOption("--version <version>", "the canary's version name")
      .requiredOption("--target <url...>", "the canary's upstream URLs")
      .addHelpText(
        "after",
        "\nExample:\n  aviary deploy checkout --version v1.3.0 --target http://127.0.0.1:9002",
      ),
  ).action(async (service: string, opts: Opts & { version: string; target: string[] }) => {
    const result = await clientFor(opts).call<{ rollout: Rollout }>(
      "POST",
      path(service, "deploy"),
      {
        version: opts.version,
        targets: opts.target,
      },
    );
    await show(opts, service, result);
  });

  withServerOptions(
    program
      .command("promote <service>")
      .description(
        "Finish the current step (a manual pause, the promotion gate); --full skips to 100 % and promotes.",
      )
      .option("--full", "skip every remaining step and promote now", false)
      .addHelpText(
        "after",
        "\nExample:\n  aviary promote checkout\n  aviary promote checkout --full",
      ),
  ).action(async (service: string, opts: Opts & { full: boolean }) => {
    await show(
      opts,
      service,
      await clientFor(opts).call("POST", path(service, "promote"), { full: opts.full }),
    );
  });

  withServerOptions(
    program
      .command("abort <service>")
      .description("Roll back: the canary gets 0 % at once. Idempotent.")
      .option("--reason <text>", "why, for the history")
      .addHelpText(
        "after",
        "\nExample:\n  aviary abort checkout --reason 'checkout errors in the logs'",
      ),
  ).action(async (service: string, opts: Opts & { reason?: string }) => {
    await show(
      opts,
      service,
      await clientFor(opts).call(
        "POST",
        path(service, "abort"),
        opts.reason ? { reason: opts.reason } : {},
      ),
    );
  });

  const simple: Array<[verb: string, description: string]> = [
    ["pause", "Hold the rollout where it is (timed pauses stop counting)."],
    ["resume", "Continue after `pause`; the paused time does not count against any step."],
    ["retry", "Start an aborted rollout again from step 0."],
    ["undo", "Put the previous stable version back after a promotion."],
  ];
  for (const [verb, description] of simple) {
    withServerOptions(
      program
        .command(`${verb} <service>`)
        .description(description)
        .addHelpText("after", `\nExample:\n  aviary ${verb} checkout`),
    ).action(async (service: string, opts: Opts) => {
      await show(opts, service, await clientFor(opts).call("POST", path(service, verb), {}));
    });
  }
}
