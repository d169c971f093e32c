/**
 * Flags of `npm run bench:rollback -- [flags]`.
 *
 * @module
 */

export interface RollbackArgs {
  trials: number;
  connections: number;
  warmupS: number;
  peer: boolean;
  pin: boolean;
  json: boolean;
}

export const USAGE = `Usage: npm run bench:rollback -- [flags]
  --trials N        abort trials, each followed by a spec-reload trial (default 30)
  --connections N   load generator connections (default 50)
  --warmup S        seconds of load before the first trial, whole seconds (default 3)
  --no-peer         skip the spec-reload (SIGHUP) peer
  --quick           5 trials, 1 s warm-up
  --no-pin          do not pin with taskset
  --json            print one JSON object on stdout; the human report goes to stderr
  --help`;

export class UsageError extends Error {}

function wholeNumber(flag: string, value: string | undefined, min: number, max: number): number {
  const n = Number(value);
  if (value === undefined || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`${flag} needs a whole number from ${min} to ${max}`);
  }
  return n;
}

/** Parses the flags; throws {@link UsageError} on bad input, returns undefined for --help. */
export function parseArgs(argv: readonly string[]): RollbackArgs | undefined {
  const a: RollbackArgs = {
    trials: 30,
    connections: 50,
    warmupS: 3,
    peer: true,
    pin: true,
    json: false,
  };
  const set = new Set<string>();
  let quick = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] as string;
    const value = (): string | undefined => argv[++i];
    set.add(flag);
    switch (flag) {
      case "--trials":
        a.trials = wholeNumber(flag, value(), 1, 1000);
        break;
      case "--connections":
        a.connections = wholeNumber(flag, value(), 1, 1000);
        break;
      case "--warmup":
        a.warmupS = wholeNumber(flag, value(), 0, 600);
        break;
      case "--no-peer":
        a.peer = false;
        break;
      case "--quick":
        quick = true;
        break;
      case "--no-pin":
        a.pin = false;
        break;
      case "--json":
        a.json = true;
        break;
      case "--help":
      case "-h":
        return undefined;
      default:
        throw new UsageError(`unknown flag ${flag}`);
    }
  }
  if (quick) {
    if (!set.has("--trials")) a.trials = 5;
    if (!set.has("--warmup")) a.warmupS = 1;
  }
  return a;
}
