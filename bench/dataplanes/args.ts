/**
 * Flags of `npm run bench:dataplanes -- [flags]`.
 *
 * @module
 */

export interface DataplaneArgs {
  rounds: number;
  durationS: number;
  warmupS: number;
  connections: number;
  json: boolean;
  pin: boolean;
}

export const USAGE = `Usage: npm run bench:dataplanes -- [flags]
  --rounds N         interleaved rounds per engine (default 3)
  --duration S       seconds per measured run, whole seconds (default 10)
  --warmup S         unrecorded warm-up per engine before the rounds (default 3)
  --quick            1 round x 3 s, 1 s warm-up
  --connections N    wrk connections (default 50)
  --no-pin           do not pin with taskset
  --json             print one JSON object on stdout; the human report goes to stderr
  --help`;

export class UsageError extends Error {}

function wholeNumber(flag: string, value: string | undefined, min: number): number {
  const n = Number(value);
  if (value === undefined || !Number.isInteger(n) || n < min)
    throw new UsageError(`${flag} needs a whole number >= ${min}, got ${value ?? "nothing"}`);
  return n;
}

/** Parses the flags; throws {@link UsageError} on bad input, returns undefined for --help. */
export function parseArgs(argv: readonly string[]): DataplaneArgs | undefined {
  const a: DataplaneArgs = {
    rounds: 3,
    durationS: 10,
    warmupS: 3,
    connections: 50,
    json: false,
    pin: true,
  };
  const given = new Set<string>();
  let quick = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] as string;
    given.add(flag);
    switch (flag) {
      case "--rounds":
        a.rounds = wholeNumber(flag, argv[++i], 1);
        break;
      case "--duration":
        a.durationS = wholeNumber(flag, argv[++i], 1);
        break;
      case "--warmup":
        a.warmupS = wholeNumber(flag, argv[++i], 0);
        break;
      case "--connections":
        a.connections = wholeNumber(flag, argv[++i], 1);
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
    // --quick sets what was not given explicitly.
    if (!given.has("--rounds")) a.rounds = 1;
    if (!given.has("--duration")) a.durationS = 3;
    if (!given.has("--warmup")) a.warmupS = 1;
  }
  return a;
}
