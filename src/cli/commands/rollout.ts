/**
 * The verbs that act on a service's rollout through the API: deploy, promote, pause, resume,
 * abort, retry, undo and gate open. deploy, promote, resume, retry and gate open can `--wait`
 * for the rollout to settle (see `follow.ts`).
 *
 * @module
 */

import type { Command } from "commander";
import type { Rollout } from "../../rollout/types.js";
import type { ApiClient } from "../client.js";
import { followRollout } from "../follow.js";
import { formatService, type ServiceView } from "../format.js";
import {
  clientFor,
  durationArg,
  intervalOption,
  printData,
  type ServerVerbOptions,
  withServerOptions,
} from "../options.js";

type Opts = ServerVerbOptions & { wait?: boolean; interval: number; timeout?: number };

const path = (service: string, verb: string) =>
  `/api/v1/services/${encodeURIComponent(service)}/${verb}`;

/** Adds --wait and its companions to a verb that sets a rollout going. */
function withWait(cmd: Command): Command {
  return cmd
    .option(
      "--wait",
      "follow the rollout until it is Healthy, Aborted or waiting for a person, a line per step; exit 0 when Healthy or waiting, 1 when Aborted",
    )
    .addOption(intervalOption("with --wait"))
    .option(
      "--timeout <duration>",
      "with --wait: give up (exit 1) after this long",
      durationArg(1),
    );
}

/** Prints a command's answer: the API's document for -o json|yaml, else the service as it is now. */
async function report(
  opts: Opts,
  client: ApiClient,
  service: string,
  result: unknown,
  cmd: Command,
): Promise<void> {
  const rollout = (result as { rollout?: Rollout }).rollout;
  if (opts.wait) {
    if (rollout === undefined)
      cmd.error("error: --wait: the server's answer has no rollout to follow");
    const followed = await followRollout({
      client,
      service,
      rollout,
      intervalMs: opts.interval,
      timeoutMs: opts.timeout,
      out: opts.output === "text" ? process.stdout : process.stderr,
    });
    // Same document as without --wait, with the rollout as it ended up.
    printData(opts.output, { ...(result as object), rollout: followed.rollout });
    process.exitCode = followed.code;
    return;
  }
  if (printData(opts.output, result)) return;
  const view = await client.call<ServiceView>(
    "GET",
    `/api/v1/services/${encodeURIComponent(service)}`,
  );
  process.stdout.write(`${formatService(view)}\n`);
}

/** --interval and --timeout mean nothing without --wait: say so instead of ignoring them. */
function checkWaitFlags(opts: Opts, cmd: Command): void {
  if (opts.wait) return;
  for (const [flag, name] of [
    ["interval", "--interval"],
    ["timeout", "--timeout"],
  ] as const) {
    if (cmd.getOptionValueSource(flag) === "cli")
      cmd.error(`error: ${name} works only with --wait`);
  }
}

export function registerRolloutVerbs(program: Command): void {
  withWait(
    withServerOptions(
      program
        .command("deploy <service>")
        .description("Start a rollout of a new canary version (supersedes an active rollout).")
        .requiredOption("--version <version>", "the canary's version name")
        .requiredOption("--target <url...>", "the canary's upstream URLs")
        .addHelpText(
          "after",
          `
Example:
  aviary deploy checkout --version v1.3.0 --target http://10.0.0.7:9002 http://10.0.0.8:9002
  aviary deploy checkout --version v1.3.0 --target http://10.0.0.7:9002 --wait --timeout 30m`,
        ),
    ),
  ).action(
    async (service: string, opts: Opts & { version: string; target: string[] }, cmd: Command) => {
      checkWaitFlags(opts, cmd);
      const client = clientFor(opts);
      const result = await client.call<{ rollout: Rollout }>("POST", path(service, "deploy"), {
        version: opts.version,
        targets: opts.target,
      });
      await report(opts, client, service, result, cmd);
    },
  );

  withWait(
    withServerOptions(
      program
        .command("promote <service>")
        .description(
          "Finish the current step (a manual pause, an inconclusive analysis, the promotion gate); --full skips to 100 % and promotes.",
        )
        .option("--full", "skip every remaining step and promote now", false)
        .addHelpText(
          "after",
          `
Example:
  aviary promote checkout
  aviary promote checkout --wait
  aviary promote checkout --full`,
        ),
    ),
  ).action(async (service: string, opts: Opts & { full: boolean }, cmd: Command) => {
    checkWaitFlags(opts, cmd);
    const client = clientFor(opts);
    const result = await client.call("POST", path(service, "promote"), { full: opts.full });
    await report(opts, client, service, result, cmd);
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
  ).action(async (service: string, opts: Opts & { reason?: string }, cmd: Command) => {
    const client = clientFor(opts);
    const result = await client.call(
      "POST",
      path(service, "abort"),
      opts.reason ? { reason: opts.reason } : {},
    );
    await report(opts, client, service, result, cmd);
  });

  const gate = program
    .command("gate")
    .description("The gates a rollout waits at (approvals from a person or a pipeline).")
    .addHelpText("after", "\nExample:\n  aviary gate open checkout qa-approval");
  withWait(
    withServerOptions(
      gate
        .command("open <service> <gate>")
        .description(
          "Open a gate the rollout waits at; opening a rollback gate rolls the rollout back.",
        )
        .addHelpText(
          "after",
          "\nExample:\n  aviary gate open checkout qa-approval\n  aviary gate open checkout qa-approval --wait",
        ),
    ),
  ).action(async (service: string, name: string, opts: Opts, cmd: Command) => {
    checkWaitFlags(opts, cmd);
    const client = clientFor(opts);
    const result = await client.call(
      "POST",
      `/api/v1/services/${encodeURIComponent(service)}/gates/${encodeURIComponent(name)}/open`,
      {},
    );
    await report(opts, client, service, result, cmd);
  });

  const simple: Array<[verb: string, description: string, example: string, wait: boolean]> = [
    [
      "pause",
      "Hold the rollout where it is (a timed pause stops counting) until `resume`.",
      "aviary pause checkout",
      false,
    ],
    [
      "resume",
      "Continue after `pause`; the paused time does not count against any step.",
      "aviary resume checkout --wait",
      true,
    ],
    ["retry", "Start an aborted rollout again from step 1.", "aviary retry checkout --wait", true],
    [
      "undo",
      "Put the previous stable version back after a promotion.",
      "aviary undo checkout",
      false,
    ],
  ];
  for (const [verb, description, example, wait] of simple) {
    const cmd = withServerOptions(
      program
        .command(`${verb} <service>`)
        .description(description)
        .addHelpText("after", `\nExample:\n  ${example}`),
    );
    (wait ? withWait(cmd) : cmd).action(async (service: string, opts: Opts, self: Command) => {
      checkWaitFlags(opts, self);
      const client = clientFor(opts);
      const result = await client.call("POST", path(service, verb), {});
      await report(opts, client, service, result, self);
    });
  }
}
