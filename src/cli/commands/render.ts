import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { renderHaproxy } from "../../providers/traffic/haproxy/render.js";
import { renderNginx } from "../../providers/traffic/nginx/render.js";
import type { RenderedConfig } from "../../providers/traffic/render.js";
import { loadSpecFile, SpecError } from "../../spec/load.js";
import type { Spec } from "../../spec/schema.js";
import { EXIT } from "../exit.js";

const RENDERERS: Record<string, (spec: Spec) => RenderedConfig> = {
  haproxy: renderHaproxy,
  nginx: renderNginx,
};

export function registerRender(program: Command): void {
  program
    .command("render")
    .description(
      "Write the configuration an external engine (haproxy, nginx) needs so that Aviary can drive it at run time: the files to include, and what to add to the engine's main configuration (printed to stderr).",
    )
    .argument("<engine>", "haproxy or nginx")
    .requiredOption(
      "-f, --file <path>",
      "the spec file (its dataplane section names the engine's settings)",
    )
    .option(
      "-o, --out <dir>",
      "write every file into this directory (default: print the main file)",
    )
    .addHelpText(
      "after",
      "\nExamples:\n  aviary render haproxy -f aviary.yaml -o /etc/haproxy/aviary\n  aviary render nginx -f aviary.yaml -o /etc/nginx/aviary",
    )
    .action(async (engine: string, opts: { file: string; out?: string }) => {
      const render = RENDERERS[engine];
      if (render === undefined) {
        process.stderr.write(
          `unknown engine ${engine}: expected ${Object.keys(RENDERERS).join(" or ")}\n`,
        );
        process.exitCode = EXIT.usage;
        return;
      }
      let spec: Spec;
      try {
        spec = await loadSpecFile(opts.file);
      } catch (err) {
        if (!(err instanceof SpecError)) throw err;
        process.stderr.write(`${err.message}\n`);
        process.exitCode = EXIT.failed;
        return;
      }
      if (spec.dataplane.engine !== engine) {
        process.stderr.write(
          `${opts.file}: dataplane.engine is ${spec.dataplane.engine}; set it to ${engine} (with its ${engine} settings) to render for ${engine}\n`,
        );
        process.exitCode = EXIT.failed;
        return;
      }
      let rendered: RenderedConfig;
      try {
        rendered = render(spec);
      } catch (err) {
        process.stderr.write(`${opts.file}: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = EXIT.failed;
        return;
      }
      if (opts.out === undefined) {
        process.stdout.write(rendered.files[0]?.content ?? "");
      } else {
        mkdirSync(opts.out, { recursive: true });
        for (const f of rendered.files) writeFileSync(join(opts.out, f.name), f.content);
        process.stderr.write(
          `wrote ${rendered.files.map((f) => join(opts.out as string, f.name)).join(", ")}\n`,
        );
      }
      process.stderr.write(`${rendered.instructions.trimEnd()}\n`);
    });
}
