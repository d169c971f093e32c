#!/usr/bin/env node
// Runs every *.test.ts under src/ and test/ with Node's own test runner (TypeScript through
// tsx). Node 20's runner takes no globs, so the files are listed here. Two files at a time: on
// 2 cores the runner's default is one, and most integration files spend their time waiting on
// the processes they start (measured: 7.7 min one at a time, 5.1 min two at a time).
// Usage: node scripts/run-tests.mjs [substring...]   (only files whose path contains one)
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";

function find(dir) {
  let out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out = out.concat(find(path));
    else if (entry.name.endsWith(".test.ts")) out.push(path);
  }
  return out;
}

const filters = process.argv.slice(2);
const files = ["src", "test"]
  .flatMap(find)
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(" ")}`);
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  // A test that hangs (a regression that blocks a process for ever) fails after this instead of
  // holding the run until CI's own limit; the slowest suite (the demo) takes about 90 s.
  [
    "--import",
    "tsx",
    "--test",
    "--test-reporter=spec",
    "--test-timeout=240000",
    "--test-concurrency=2",
    ...files,
  ],
  { stdio: "inherit" },
);
process.exit(result.status ?? 1);
