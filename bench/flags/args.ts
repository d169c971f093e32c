/**
 * Flags of `npm run bench:flags -- [flags]`.
 *
 * @module
 */

export interface FlagsBenchArgs {
  rounds: number;
  durationS: number;
  warmupS: number;
  connections: number;
  json: boolean;
  pin: boolean;
}

export const USAGE = `Usage: npm run bench:flags -- [flags]
  --rounds N       interleaved rounds per target (default 3)
  --duration S     seconds per measured run, whole seconds (default 5)
  --warmup S       unrecorded warm-up per target before the rounds (default 3)
  --quick          1 round x 2 s, 1 s warm-up
  --connections N  wrk connections (default 50)
  --no-pin         do not pin with taskset
  --json           print only the JSON object on stdout; the report goes to stderr
  --help`;

export class UsageError extends Error {}

function wholeNumber(flag: string, value: string | undefined, min: number, max: number): number {
  const n = Number(value);
  if (value === undefined || !Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`${flag} needs a whole number from ${min} to ${max}`);
  return n;
}

/** Parses the flags; throws {@link UsageError} on bad input, returns undefined for --help. */
export function parseArgs(argv: readonly string[]): FlagsBenchArgs | undefined {
  const a: FlagsBenchArgs = {
    rounds: 3,
    durationS: 5,
    warmupS: 3,
    connections: 50,
    json: false,
    pin: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] as string;
    switch (flag) {
      case "--help":
      case "-h":
        return undefined;
      case "--json":
        a.json = true;
        break;
      case "--no-pin":
        a.pin = false;
        break;
      case "--quick":
        a.rounds = 1;
        a.durationS = 2;
        a.warmupS = 1;
        break;
      case "--rounds":
        a.rounds = wholeNumber(flag, argv[++i], 1, 100);
        break;
      case "--duration":
        a.durationS = wholeNumber(flag, argv[++i], 1, 3600);
        break;
      case "--warmup":
        a.warmupS = wholeNumber(flag, argv[++i], 0, 600);
        break;
      case "--connections":
        a.connections = wholeNumber(flag, argv[++i], 1, 10_000);
        break;
      default:
        throw new UsageError(`unknown flag ${flag}\n${USAGE}`);
    }
  }
  return a;
}
