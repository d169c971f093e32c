/**
 * Flags of `npm run bench:proxy -- [flags]`.
 *
 * @module
 */

import { TARGET_KEYS, type TargetKey } from "./targets.js";

export interface BenchArgs {
  rounds: number;
  durationS: number;
  warmupS: number;
  connections: number;
  json: boolean;
  pin: boolean;
  fixedRate: boolean;
  throughput: boolean;
  only: TargetKey[];
}

export const USAGE = `Usage: npm run bench:proxy -- [flags]
  --rounds N         interleaved rounds per target (default 3)
  --duration S       seconds per measured run, whole seconds (default 10)
  --warmup S         unrecorded warm-up per target before the rounds (default 3)
  --quick            1 round x 3 s, 1 s warm-up
  --connections N    wrk connections (default 50)
  --only a,b         measure only these targets (${TARGET_KEYS.join(", ")})
  --no-fixed-rate    skip the latency-at-1000-req/s measurement
  --fixed-rate-only  skip the wrk throughput measurement
  --no-pin           do not pin with taskset
  --json             print one JSON object on stdout; the human report goes to stderr
  --help`;

export class UsageError extends Error {}

function wholeNumber(flag: string, value: string | undefined, min: number): number {
  const n = Number(value);
  if (value === undefined || !Number.isInteger(n) || n < min) {
    throw new UsageError(`${flag} needs a whole number >= ${min}`);
  }
  return n;
}

/** Parses the flags; throws {@link UsageError} on bad input, returns undefined for --help. */
export function parseArgs(argv: readonly string[]): BenchArgs | undefined {
  const a: BenchArgs = {
    rounds: 3,
    durationS: 10,
    warmupS: 3,
    connections: 50,
    json: false,
    pin: true,
    fixedRate: true,
    throughput: true,
    only: [...TARGET_KEYS],
  };
  let quick = false;
  const set = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = (): string | undefined => argv[++i];
    set.add(flag);
    switch (flag) {
      case "--rounds":
        a.rounds = wholeNumber(flag, value(), 1);
        break;
      case "--duration":
        a.durationS = wholeNumber(flag, value(), 1);
        break;
      case "--warmup":
        a.warmupS = wholeNumber(flag, value(), 0);
        break;
      case "--connections":
        a.connections = wholeNumber(flag, value(), 1);
        break;
      case "--quick":
        quick = true;
        break;
      case "--json":
        a.json = true;
        break;
      case "--no-pin":
        a.pin = false;
        break;
      case "--no-fixed-rate":
        a.fixedRate = false;
        break;
      case "--fixed-rate-only":
        a.throughput = false;
        break;
      case "--only": {
        const names = (value() ?? "").split(",").filter(Boolean);
        const keys = names.map((n) => TARGET_KEYS.find((k) => k.toLowerCase() === n.toLowerCase()));
        if (names.length === 0 || keys.includes(undefined)) {
          throw new UsageError(`--only takes a comma list of ${TARGET_KEYS.join(", ")}`);
        }
        a.only = keys as TargetKey[];
        break;
      }
      case "--help":
      case "-h":
        return undefined;
      default:
        throw new UsageError(`unknown flag ${flag}`);
    }
  }
  if (!a.fixedRate && !a.throughput) {
    throw new UsageError("--no-fixed-rate and --fixed-rate-only leave nothing to measure");
  }
  if (quick) {
    if (!set.has("--rounds")) a.rounds = 1;
    if (!set.has("--duration")) a.durationS = 3;
    if (!set.has("--warmup")) a.warmupS = 1;
  }
  return a;
}
