/**
 * `npm run docs`: writes the reference pages that are generated from the code, so they cannot
 * drift from it: `docs/spec-reference.md` (the spec's schema), `docs/cli.md` (the command tree)
 * and `docs/api.md` (the admin API's OpenAPI document). `test/docs.test.ts` regenerates them in
 * memory and fails when a file on disk differs.
 *
 * Usage: node --import tsx scripts/gen-docs.ts [--check]
 *   --check   write nothing; exit 1 naming each file that is out of date
 *
 * @module
 */

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { apiReference } from "./docs/api-reference.js";
import { cliReference } from "./docs/cli-reference.js";
import { specReference } from "./docs/spec-reference.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Every generated page, by path from the repository root. Deterministic: no dates, no hosts. */
export function generateDocs(): Record<string, string> {
  return {
    "docs/spec-reference.md": specReference(),
    "docs/cli.md": cliReference(),
    "docs/api.md": apiReference(),
  };
}

/** A file of the repository, or undefined when there is none. */
function readPage(path: string): string | undefined {
  try {
    return readFileSync(join(ROOT, path), "utf8");
  } catch {
    return undefined;
  }
}

/** The generated pages whose file (on disk, unless `read` says otherwise) differs or is missing. */
export function staleDocs(
  pages: Record<string, string> = generateDocs(),
  read: (path: string) => string | undefined = readPage,
): string[] {
  return Object.entries(pages)
    .filter(([path, text]) => read(path) !== text)
    .map(([path]) => path);
}

function main(args: readonly string[]): number {
  const pages = generateDocs();
  if (args.includes("--check")) {
    const stale = staleDocs(pages);
    for (const path of stale) process.stderr.write(`${path} is out of date: run npm run docs\n`);
    return stale.length === 0 ? 0 : 1;
  }
  for (const [path, text] of Object.entries(pages)) {
    writeFileSync(join(ROOT, path), text);
    process.stdout.write(`wrote ${path}\n`);
  }
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  process.exitCode = main(process.argv.slice(2));
}
