import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import { startSampleService } from "../../demo/sample-service.js";
import { startAviary } from "../../server.js";
import { Spec } from "../../spec/schema.js";
import { formatListenAddress } from "../../util/address.js";
import { createLogger } from "../../util/log.js";

interface DemoOptions {
  listen: string;
  admin: string;
}

export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description(
      "Start two sample versions of a service behind the router, split 90/10 with sticky users and a beta-tester route.",
    )
    .option("--listen <host:port>", "data-plane address", "127.0.0.1:8080")
    .option("--admin <host:port>", "admin address", "127.0.0.1:9900")
    .addHelpText(
      "after",
      "\nExample:\n  aviary demo\n  curl -H 'x-user-id: alice' http://127.0.0.1:8080/shop/",
    )
    .action(async (opts: DemoOptions) => {
      const log = createLogger("warn");
      const v1 = await startSampleService({ version: "v1" });
      const v2 = await startSampleService({ version: "v2" });
      const spec = Spec.parse({
        listen: opts.listen,
        admin: opts.admin,
        services: [
          {
            name: "shop",
            match: { pathPrefix: "/shop" },
            stable: { version: "v1", targets: [v1.url] },
            canary: { version: "v2", targets: [v2.url] },
            weight: 10,
            stickiness: { header: "x-user-id" },
            routes: [
              { match: { headers: { "user-type": { exact: "beta-tester" } } }, to: "canary" },
            ],
          },
        ],
      });
      const dataDir = mkdtempSync(join(tmpdir(), "aviary-demo-"));
      const aviary = await startAviary({ spec, log, dataDir });
      const at = `http://${formatListenAddress(aviary.listen)}`;
      const admin = `http://${formatListenAddress(aviary.adminAddress)}`;
      const stop = () => {
        Promise.all([aviary.close(), v1.close(), v2.close()]).finally(() => {
          rmSync(dataDir, { recursive: true, force: true });
          process.exit(0);
        });
      };
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      process.stdout.write(
        [
          "Aviary demo: service 'shop' (v1 stable, v2 canary at 10 %, sticky on x-user-id)",
          "",
          `  router   ${at}/shop/`,
          `  metrics  ${admin}/metrics`,
          "",
          "Try:",
          `  curl -s -H 'x-user-id: alice' ${at}/shop/              # same version every time`,
          `  curl -s -H 'user-type: beta-tester' ${at}/shop/        # always v2`,
          `  for i in $(seq 200); do curl -s -H "x-user-id: u$i" ${at}/shop/; done | grep -c v2   # about 20`,
          "",
          "Ctrl-C stops everything.",
          "",
        ].join("\n"),
      );
    });
}
