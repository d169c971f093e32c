/**
 * The six things measured and how each is started: the upstream directly, Aviary, nginx,
 * node-http-proxy, fastify reply-from and a bare undici stream proxy (the Node floor). Every proxy runs as one process pinned to the
 * proxy CPU; its CPU is read from its whole process tree (nginx: master + worker, see
 * measure.ts).
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { launch, type Proc } from "./procs.js";

export const TARGET_KEYS = [
  "direct",
  "aviary",
  "nginx",
  "fastifyReplyFrom",
  "nodeHttpProxy",
  "undiciStream",
] as const;
export type TargetKey = (typeof TARGET_KEYS)[number];

export const LABELS: Record<TargetKey, string> = {
  direct: "direct (upstream)",
  aviary: "aviary",
  nginx: "nginx split_clients",
  fastifyReplyFrom: "fastify reply-from",
  nodeHttpProxy: "node-http-proxy",
  undiciStream: "bare undici stream",
};

export interface Target {
  key: TargetKey;
  label: string;
  url: string;
  /** The proxy process; none for direct. */
  proc: Proc | undefined;
}

const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url));

export const UPSTREAM_SCRIPT = here("./upstream.ts");

/** Starts one upstream (`name` is stable or canary). */
export function startUpstream(name: string, port: number, cpu: number): Proc {
  const args = ["--import", "tsx", UPSTREAM_SCRIPT, "--port", String(port), "--name", name];
  return launch(`upstream ${name}`, process.execPath, args, { cpu });
}

export interface SplitPorts {
  listen: number;
  stable: number;
  canary: number;
}

const PEER_SCRIPTS = {
  nodeHttpProxy: here("./peers/http-proxy.ts"),
  fastifyReplyFrom: here("./peers/reply-from.ts"),
  undiciStream: here("./peers/undici-stream.ts"),
} as const;

/** Starts a Node peer with the 90/10 murmur3 split on x-user-id. */
export function startNodePeer(key: keyof typeof PEER_SCRIPTS, p: SplitPorts, cpu: number): Proc {
  const args = ["--import", "tsx", PEER_SCRIPTS[key], "--port", String(p.listen)];
  args.push("--stable", `http://127.0.0.1:${p.stable}`);
  args.push("--canary", `http://127.0.0.1:${p.canary}`, "--canary-bp", "1000");
  return launch(LABELS[key], process.execPath, args, { cpu });
}
