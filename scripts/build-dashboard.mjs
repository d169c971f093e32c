#!/usr/bin/env node
// Bundles the web dashboard (src/dashboard/web) with esbuild into dist/dashboard: app.js,
// app.css (uPlot's styles included), index.html and favicon.svg. Everything the page loads is
// served by Aviary itself: no CDN, no web fonts. index.html names each bundle with a hash of
// its content (`app.js?v=...`), so browsers may cache the bundles for good and still never run
// a stale one. `npm run build` runs it after tsc; it does not clear dist/dashboard, where tsc
// puts the compiled server routes.
// Usage: node scripts/build-dashboard.mjs [outdir]
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const web = join(root, "src", "dashboard", "web");
const outdir = resolve(process.argv[2] ?? join(root, "dist", "dashboard"));

mkdirSync(outdir, { recursive: true });
const started = Date.now();
const result = await build({
  absWorkingDir: root,
  entryPoints: { app: join(web, "main.tsx") },
  outdir,
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["es2022", "chrome111", "firefox113", "safari16.4"],
  tsconfig: join(web, "tsconfig.json"),
  jsx: "automatic",
  jsxImportSource: "preact",
  minify: true,
  sourcemap: false,
  legalComments: "eof",
  logLevel: "warning",
  metafile: true,
});

const hash = (file) =>
  createHash("sha256")
    .update(readFileSync(join(outdir, file)))
    .digest("hex")
    .slice(0, 16);
const html = readFileSync(join(web, "index.html"), "utf8")
  .replace("%APP_JS_HASH%", hash("app.js"))
  .replace("%APP_CSS_HASH%", hash("app.css"));
if (html.includes("%APP_")) throw new Error(`${join(web, "index.html")}: a placeholder was left`);
writeFileSync(join(outdir, "index.html"), html);
copyFileSync(join(web, "favicon.svg"), join(outdir, "favicon.svg"));

const sizes = Object.entries(result.metafile.outputs)
  .map(
    ([file, out]) => `${relative(outdir, join(root, file))} ${(out.bytes / 1024).toFixed(1)} KiB`,
  )
  .join(", ");
// `npm run build --silent` (as npm test runs it) means silent.
if (process.env.npm_config_loglevel !== "silent")
  console.log(
    `dashboard: ${relative(root, outdir) || outdir} (${sizes}) in ${Date.now() - started} ms`,
  );
