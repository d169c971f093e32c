/**
 * Aviary itself: whether the built CLI has `serve` yet, the spec the benchmark runs it with
 * (one service, stable and canary on the two upstreams, weight 10, sticky on x-user-id;
 * metrics are always on), and starting it.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { launch, type Proc } from "./procs.js";

const CLI = "dist/cli/main.js";

/** `aviary [...args] --help`: its output, or the error when the CLI does not even start. */
function help(root: string, args: string[]): { text: string } | { error: string } {
  const r = spawnSync(process.execPath, [CLI, ...args, "--help"], { cwd: root, encoding: "utf8" });
  if (/^Usage:/m.test(r.stdout)) return { text: r.stdout };
  const why = r.stderr.match(/^\w*Error.*$/m)?.[0] ?? r.stderr.trim().split("\n").pop();
  return { error: why || `exit ${r.status}` };
}

export interface ServeCli {
  /** The spec-file flag: `-c` as planned (`-f` if it ends up like `validate`). */
  specFlag: string;
  /** Whether `--data-dir` exists (then the state goes to the temp dir, not ./.aviary). */
  dataDir: boolean;
}

/**
 * What the built `aviary serve` takes; `{ missing }` when the CLI is not built or has no
 * `serve` yet, `{ broken }` when it does not start.
 */
export function serveCli(root: string): ServeCli | { missing: string } | { broken: string } {
  if (!existsSync(join(root, CLI))) return { missing: `${CLI} is not built` };
  const top = help(root, []);
  if ("error" in top) return { broken: `node ${CLI} --help failed: ${top.error}` };
  if (!/^\s+serve\b/m.test(top.text)) return { missing: `${CLI} has no \`serve\` command yet` };
  const serve = help(root, ["serve"]);
  if ("error" in serve) return { broken: `node ${CLI} serve --help failed: ${serve.error}` };
  const fileFlag = !/(^|\s)-c[,\s]/.test(serve.text) && /(^|\s)-f[,\s]/.test(serve.text);
  return { specFlag: fileFlag ? "-f" : "-c", dataDir: /--data-dir\b/.test(serve.text) };
}

export interface AviaryPorts {
  listen: number;
  admin: number;
  stable: number;
  canary: number;
}

export function aviarySpec(p: AviaryPorts): string {
  return `# Written by bench/proxy/aviary.ts.
listen: 127.0.0.1:${p.listen}
admin: 127.0.0.1:${p.admin}
services:
  - name: bench
    match: { pathPrefix: / }
    stable: { version: v1, targets: [http://127.0.0.1:${p.stable}] }
    canary: { version: v2, targets: [http://127.0.0.1:${p.canary}] }
    weight: 10
    stickiness: { header: x-user-id }
`;
}

export function startAviary(root: string, dir: string, cli: ServeCli, p: AviaryPorts, cpu: number) {
  const spec = join(dir, "aviary.yaml");
  writeFileSync(spec, aviarySpec(p));
  const args = [CLI, "serve", cli.specFlag, spec];
  args.push("--listen", `127.0.0.1:${p.listen}`, "--admin", `127.0.0.1:${p.admin}`);
  if (cli.dataDir) args.push("--data-dir", join(dir, "aviary-data"));
  return launch("aviary", process.execPath, args, { cpu, cwd: root }) satisfies Proc;
}
