/**
 * What linear-time regexes cost the router (src/util/linear-regex.ts, re2js) against V8's own
 * backtracking engine, the peer they replaced, measured in the same run: ns per test of
 * typical routing patterns on typical values, then the growth on a hostile value, where V8
 * doubles per byte and RE2 grows by a constant per byte.
 *
 * Usage: npm run bench:regex [-- --json] [-- --reps N]
 */

import { compileLinearRegex } from "../src/util/linear-regex.js";

const args = process.argv.slice(2);
const json = args.includes("--json");
const reps = Number(args[args.indexOf("--reps") + 1]) || 5;

const TYPICAL: Array<{ pattern: string; value: string }> = [
  { pattern: "^beta-(tester|user)$", value: "beta-tester" },
  { pattern: "^(1|yes|true)$", value: "no" },
  {
    pattern: "Chrome/1[0-9]{2}",
    value:
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
  },
  { pattern: "(?i)^enterprise-", value: "Enterprise-4711" },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

/** ns per call of `test`, median over `reps` rounds of `n` calls. */
function nsPerTest(test: (v: string) => boolean, value: string, n: number): number {
  const rounds: number[] = [];
  let sink = 0;
  for (let r = 0; r < reps; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) if (test(value)) sink++;
    rounds.push(Number(process.hrtime.bigint() - t0) / n);
  }
  if (sink < 0) console.log(sink);
  return median(rounds);
}

const typical = TYPICAL.map(({ pattern, value }) => {
  const linear = compileLinearRegex(pattern);
  // V8 has no inline (?i): the peer gets the flag instead.
  const v8 = pattern.startsWith("(?i)") ? new RegExp(pattern.slice(4), "i") : new RegExp(pattern);
  const re2jsNs = nsPerTest((v) => linear.test(v), value, 100_000);
  const v8Ns = nsPerTest((v) => v8.test(v), value, 100_000);
  return { pattern, value, re2jsNs, v8Ns, ratio: re2jsNs / v8Ns };
});

// `(a+)+$` against n a's and a '!': V8 explores 2^n splits; kept to n ≤ 24 so the run ends.
const hostile = [16, 18, 20, 22, 24].map((n) => {
  const value = `${"a".repeat(n)}!`;
  const linear = compileLinearRegex("(a+)+$");
  const v8 = /(a+)+$/;
  return {
    n,
    re2jsNs: nsPerTest((v) => linear.test(v), value, 2_000),
    v8Ns: nsPerTest((v) => v8.test(v), value, 1),
  };
});

if (json) {
  console.log(JSON.stringify({ reps, typical, hostile }, null, 2));
} else {
  console.log(`linear-time regexes (re2js) against V8's backtracking engine; medians of ${reps}`);
  for (const t of typical)
    console.log(
      `  ${t.pattern.padEnd(22)} re2js ${t.re2jsNs.toFixed(0).padStart(6)} ns   V8 ${t.v8Ns.toFixed(0).padStart(5)} ns   ×${t.ratio.toFixed(1)}`,
    );
  console.log("  (a+)+$ against n a's and a '!':");
  for (const h of hostile)
    console.log(
      `    n=${String(h.n).padEnd(3)} re2js ${(h.re2jsNs / 1000).toFixed(1).padStart(7)} µs   V8 ${(h.v8Ns / 1e6).toFixed(1).padStart(8)} ms`,
    );
}
