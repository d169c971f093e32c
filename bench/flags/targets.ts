/**
 * The two servers under load, each started as its own process: `aviary serve` from the compiled
 * CLI with an OFREP listener, the bulk set of flags and one client key in its tokens file; and
 * the Unleash proxy from bootstrapped toggles. {@link probe} checks a few thousand users' answers
 * one by one against each flag's own rule before anything is measured.
 *
 * @module
 */

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { hashToken } from "../../src/api/tokens-file.js";
import { launch, listening, type Proc, sleep, tail } from "../proxy/procs.js";
import { aviaryFlag, bulkKeys, FLAG_KEY } from "./flag-set.js";

const CLI = "dist/cli/main.js";
const UNLEASH_SCRIPT = fileURLToPath(new URL("./unleash-proxy.ts", import.meta.url));

export interface AviaryPorts {
  listen: number;
  admin: number;
  ofrep: number;
}

/** `aviary serve` with OFREP on `ports.ofrep` and `clientKey` as a `client` key. */
export function startAviary(
  root: string,
  dir: string,
  ports: AviaryPorts,
  clientKey: string,
  cpu: number,
): Proc {
  const dataDir = join(dir, "aviary-data");
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(join(dataDir, "tokens"), `sha256:${hashToken(clientKey)} client bench\n`, {
    mode: 0o600,
  });
  const spec = {
    listen: `127.0.0.1:${ports.listen}`,
    admin: `127.0.0.1:${ports.admin}`,
    // The benchmark's one key sends everything: the per-key limit (10,000/s by default) is
    // lifted so the listener's own speed is what is measured.
    ofrep: { listen: `127.0.0.1:${ports.ofrep}`, rateLimit: { perKey: 1_000_000 } },
    flags: bulkKeys.map(aviaryFlag),
  };
  const specFile = join(dir, "aviary.yaml");
  // JSON is YAML: the spec is written as JSON so that nothing here formats YAML.
  writeFileSync(
    specFile,
    `# Written by bench/flags/targets.ts.\n${JSON.stringify(spec, null, 2)}\n`,
  );
  const args = [CLI, "serve", "-c", specFile, "--data-dir", dataDir];
  const env: Record<string, string> = { AVIARY_LOG_LEVEL: "warn" };
  return launch("aviary", process.execPath, args, { cpu, cwd: root, env });
}

export function startUnleashProxy(
  port: number,
  closedPort: number,
  clientKey: string,
  cpu: number,
): Proc {
  const args = ["--import", "tsx", UNLEASH_SCRIPT, "--port", String(port)];
  args.push("--closed-port", String(closedPort), "--client-key", clientKey);
  return launch("unleash proxy", process.execPath, args, { cpu });
}

/** The installed `@unleash/proxy` version, for the report. */
export function unleashProxyVersion(): string {
  const require = createRequire(import.meta.url);
  const pkg = JSON.parse(readFileSync(require.resolve("@unleash/proxy/package.json"), "utf8"));
  return String((pkg as { version: unknown }).version);
}

/** Waits until `port` accepts connections, failing early when the process exits. */
export async function waitListening(proc: Proc, port: number, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (proc.done) throw new Error(`${proc.name} exited: ${tail(proc.stderr || proc.stdout)}`);
    if (await listening(port)) return;
    await sleep(100);
  }
  throw new Error(`${proc.name} is not listening on ${port} after ${timeoutMs} ms`);
}

export type ProbeKind = "ofrep" | "ofrep-bulk" | "unleash";

/** One user's answer: how many flags are on, or why it is not an answer. */
async function ask(kind: ProbeKind, origin: string, key: string, n: number): Promise<number> {
  const user = `user-${n}`;
  const type = n % 10 === 0 ? "beta-tester" : "customer";
  if (kind === "unleash") {
    const r = await fetch(`${origin}/proxy?userId=${user}&user-type=${type}`, {
      headers: { authorization: key },
    });
    const body = (await r.json()) as { toggles?: { name: string; enabled: boolean }[] };
    if (r.status !== 200 || !Array.isArray(body.toggles))
      throw new Error(`${r.status} ${JSON.stringify(body)}`);
    return body.toggles.some((t) => t.name === FLAG_KEY && t.enabled) ? 1 : 0;
  }
  const path =
    kind === "ofrep" ? `/ofrep/v1/evaluate/flags/${FLAG_KEY}` : "/ofrep/v1/evaluate/flags";
  const r = await fetch(`${origin}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ context: { targetingKey: user, "user-type": type } }),
  });
  const body = (await r.json()) as { value?: unknown; flags?: { key: string; value?: unknown }[] };
  if (r.status !== 200) throw new Error(`${r.status} ${JSON.stringify(body)}`);
  if (kind === "ofrep") {
    if (typeof body.value !== "boolean")
      throw new Error(`no boolean value: ${JSON.stringify(body)}`);
    return body.value ? 1 : 0;
  }
  const flags = body.flags ?? [];
  if (flags.length !== bulkKeys.length || flags.some((f) => typeof f.value !== "boolean"))
    throw new Error(`not ${bulkKeys.length} boolean flags: ${JSON.stringify(body).slice(0, 300)}`);
  return flags.filter((f) => f.value === true).length;
}

/**
 * Asks users from+1 … from+count, 20 at a time, and compares each answer with `expect`. Throws
 * with the first few mismatches.
 */
export async function probe(
  kind: ProbeKind,
  origin: string,
  key: string,
  expect: (n: number) => number,
  from: number,
  count: number,
): Promise<void> {
  const wrong: string[] = [];
  for (let base = from; base < from + count; base += 20) {
    const ns = Array.from({ length: Math.min(20, from + count - base) }, (_, i) => base + i + 1);
    const got = await Promise.all(
      ns.map((n) => ask(kind, origin, key, n).catch((err: Error) => `error: ${err.message}`)),
    );
    got.forEach((g, i) => {
      const n = ns[i] as number;
      if (g !== expect(n)) wrong.push(`user-${n}: got ${g}, the rule gives ${expect(n)}`);
    });
  }
  if (wrong.length > 0)
    throw new Error(
      `${kind}: ${wrong.length} of ${count} answers wrong: ${wrong.slice(0, 3).join("; ")}`,
    );
}
