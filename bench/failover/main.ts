/**
 * `npm run bench:failover -- [--runs N] [--lease MS] [--rate N] [--json]`: how long the control
 * plane is without a leader when the leader dies, under steady load through the routers, with
 * a rollout progressing the whole time.
 *
 * The cluster is the fault tests' (`test/support/ha-cluster.ts`): one Postgres, three `aviary
 * serve --store postgres://…` instances, two `aviary router` processes behind HAProxy. Per run:
 * find the leader (the instance whose `GET /api/v1/cluster` says `role: leader`), SIGKILL it,
 * poll every instance's `GET /api/v1/cluster` every 25 ms until another says it leads, start
 * the killed one again (it comes back as a follower), and let the rollout go on for a second.
 * Takeover = from the kill to the first poll answered `role: leader` by another instance,
 * which follows that instance's first successful lease acquisition by at most one poll.
 *
 * At the end it reads the whole history and counts transitions recorded twice and skipped
 * (`test/support/ha-history.ts`); the load counts every request that did not get a 2xx.
 * A rollout that is promoted is followed by the next version's, so one is always progressing.
 *
 * @module
 */

import { type HaCluster, SERVICE, startHaCluster } from "../../test/support/ha-cluster.js";
import { checkHistory, expectedTransitions, readHistory } from "../../test/support/ha-history.js";
import { startLoad } from "../../test/support/ha-load.js";

const USAGE = `Usage: npm run bench:failover -- [flags]
  --runs N     leader kills (default 20, at least 1)
  --lease MS   the lease in milliseconds (default 3000)
  --rate N     requests per second through HAProxy (default 100)
  --json       print only { takeoverMs: { p50, p99 }, failedRequests, duplicateTransitions,
               lostTransitions, runs } on stdout; the human report goes to stderr
  --help`;

interface Args {
  runs: number;
  leaseMs: number;
  rate: number;
  json: boolean;
}

function parseArgs(argv: readonly string[]): Args | undefined {
  const a: Args = { runs: 20, leaseMs: 3_000, rate: 100, json: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const num = (min: number, max: number) => {
      const v = argv[++i];
      const n = Number(v);
      if (v === undefined || !Number.isInteger(n) || n < min || n > max)
        throw new Error(`${flag} needs a whole number from ${min} to ${max}`);
      return n;
    };
    if (flag === "--runs") a.runs = num(1, 1_000);
    else if (flag === "--lease") a.leaseMs = num(500, 60_000);
    else if (flag === "--rate") a.rate = num(1, 5_000);
    else if (flag === "--json") a.json = true;
    else if (flag === "--help" || flag === "-h") return undefined;
    else throw new Error(`unknown flag ${flag}`);
  }
  return a;
}

/** Many short steps, so one rollout spans several kills and each kill lands mid-rollout. */
const STEPS = Array.from({ length: 10 }, (_, i) => [
  { setWeight: (i + 1) * 9 },
  { pause: { duration: "1s" } },
]).flat();

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)] as number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function phaseAndVersion(ha: HaCluster): Promise<{ phase: string; version: string }> {
  const res = await ha.api(await ha.anyAdmin(), "GET", `/api/v1/services/${SERVICE}`);
  const r = (res.json as { rollout?: { phase: string; canary: { version: string } } | null })
    .rollout;
  return { phase: r?.phase ?? "none", version: r?.canary.version ?? "none" };
}

async function main(): Promise<number> {
  let args: Args | undefined;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (args === undefined) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const say = (line: string) => process.stderr.write(`${line}\n`);
  say(
    `bench:failover: 3 instances, 2 routers, lease ${args.leaseMs} ms, ${args.runs} leader kills, ${args.rate} req/s`,
  );
  const ha = await startHaCluster({ steps: STEPS, leaseMs: args.leaseMs, tick: "200ms" });
  const load = startLoad({ url: ha.front.url, rate: args.rate });
  const takeovers: number[] = [];
  let version = 2;
  try {
    await ha.waitForLeader();
    for (let run = 1; run <= args.runs; run++) {
      // Keep a rollout progressing: after a promotion, the next version.
      const now = await phaseAndVersion(ha);
      if (now.phase === "Healthy" || now.phase === "Aborted") {
        version += 1;
        await ha.deploy(`v${version}`);
      }
      const old = await ha.waitForLeader();
      const killedAt = performance.now();
      await ha.instances[old.index]?.proc.kill();
      const next = await ha.waitForLeader({ not: old.index, pollMs: 25, timeoutMs: 60_000 });
      const ms = next.seenAt - killedAt;
      takeovers.push(ms);
      say(
        `run ${String(run).padStart(2)}: killed ${ha.instances[old.index]?.name} (epoch ${old.view.epoch}), ${ha.instances[next.index]?.name} leads (epoch ${next.view.epoch}) after ${Math.round(ms)} ms; rollout v${version} ${now.phase}`,
      );
      await ha.startInstance(old.index);
      await sleep(1_000);
    }
    // Let the last rollout finish, so its end is checked too (bounded).
    for (let i = 0; i < 600; i++) {
      const s = await phaseAndVersion(ha);
      if (s.phase === "Healthy" || s.phase === "Aborted") break;
      await sleep(100);
    }
    const counts = await load.stop();
    const events = await readHistory(await ha.anyAdmin(), ha.token, SERVICE);
    const check = checkHistory(events, expectedTransitions(STEPS));
    const sorted = [...takeovers].sort((a, b) => a - b);
    const result = {
      takeoverMs: {
        p50: Math.round(percentile(sorted, 50)),
        p99: Math.round(percentile(sorted, 99)),
      },
      failedRequests: counts.failed,
      duplicateTransitions: check.duplicateTransitions,
      lostTransitions: check.lostTransitions,
      runs: takeovers.length,
    };
    const target = args.leaseMs + 2_000;
    say("");
    say(
      `takeover: p50 ${result.takeoverMs.p50} ms, p99 ${result.takeoverMs.p99} ms, max ${Math.round(sorted.at(-1) ?? 0)} ms (target p99 ≤ lease + 2 s = ${target} ms: ${result.takeoverMs.p99 <= target ? "met" : "MISSED"})`,
    );
    say(
      `requests: ${counts.sent} sent, ${counts.ok} answered 2xx, ${counts.failed} failed (target 0), ${counts.skipped} not sent (too many in flight)`,
    );
    say(`answers by version: ${JSON.stringify(counts.byVersion)}`);
    say(
      `history: ${events.length} events, ${check.rollouts.length} rollouts (${check.rollouts.filter((r) => r.finished).length} finished), ${check.duplicateTransitions} duplicate and ${check.lostTransitions} lost transitions (target 0 / 0)`,
    );
    const aborted = check.rollouts.filter((r) => r.aborted !== null);
    say(`aborted rollouts: ${aborted.length} (a fault should abort none)`);
    for (const r of aborted) say(`  ${r.rolloutId} aborted by ${r.aborted}`);
    for (const r of check.rollouts)
      if (r.duplicates.length > 0 || r.lost.length > 0 || r.unexpected.length > 0)
        say(
          `  ${r.rolloutId}: duplicates ${JSON.stringify(r.duplicates)} lost ${JSON.stringify(r.lost)} unexpected ${JSON.stringify(r.unexpected)}`,
        );
    for (const f of counts.failures.slice(0, 10)) say(`  failed at ${f.at} ms: ${f.why}`);
    if (args.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    return 0;
  } catch (err) {
    say(`bench:failover failed: ${(err as Error).stack ?? err}`);
    return 1;
  } finally {
    await load.stop().catch(() => undefined);
    await ha.close().catch(() => undefined);
  }
}

process.exitCode = await main();
