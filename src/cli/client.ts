/**
 * How the CLI reaches a running Aviary: the REST API, at --server / AVIARY_SERVER (default the
 * local admin address), with the operator token from --token / AVIARY_TOKEN, or else from the
 * token file in --data-dir (default .aviary), as `aviary serve` writes it.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { errors, request } from "undici";
import { TOKEN_FILE } from "../api/auth.js";
import { AviaryError } from "../errors.js";

export interface ClientOptions {
  server?: string;
  token?: string;
  dataDir?: string;
}

export class ApiClient {
  readonly server: string;
  readonly #token: string | undefined;

  constructor(opts: ClientOptions, env = process.env) {
    this.server = (opts.server ?? env.AVIARY_SERVER ?? "http://127.0.0.1:9900").replace(/\/+$/, "");
    this.#token =
      opts.token ??
      (env.AVIARY_TOKEN || undefined) ??
      readTokenFile(opts.dataDir ?? env.AVIARY_DATA_DIR ?? ".aviary");
  }

  async call<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(`${this.server}${path}`, {
        method,
        headers: {
          accept: "application/json",
          ...(this.#token ? { authorization: `Bearer ${this.#token}` } : {}),
          ...(body !== undefined ? { "content-type": "application/json" } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        headersTimeout: 30_000,
        bodyTimeout: 30_000,
      });
    } catch (err) {
      const reason =
        err instanceof errors.UndiciError || err instanceof Error ? err.message : String(err);
      throw new AviaryError(
        "AVIARY_UNREACHABLE",
        `cannot reach Aviary at ${this.server}: ${reason} (is \`aviary serve\` running? set --server or AVIARY_SERVER)`,
      );
    }
    const text = await res.body.text();
    const json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    if (res.statusCode >= 400) {
      const code = typeof json.code === "string" ? json.code : `HTTP_${res.statusCode}`;
      const detail = typeof json.detail === "string" ? json.detail : text;
      const hint =
        res.statusCode === 401
          ? " (pass --token, set AVIARY_TOKEN, or point --data-dir at the server's data directory)"
          : "";
      const problems = Array.isArray(json.problems)
        ? `\n${(json.problems as Array<{ file: string; line: number; column: number; path: string; message: string }>).map((p) => `${p.file}:${p.line}:${p.column}: ${p.path ? `${p.path}: ` : ""}${p.message}`).join("\n")}`
        : "";
      throw new AviaryError(code, `${detail}${hint}${problems}`);
    }
    return json as T;
  }
}

function readTokenFile(dataDir: string): string | undefined {
  try {
    return readFileSync(join(dataDir, TOKEN_FILE), "utf8").trim();
  } catch {
    return undefined;
  }
}
