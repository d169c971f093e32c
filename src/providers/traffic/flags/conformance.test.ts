/**
 * The traffic provider conformance suite against the flags provider (no data path): what it
 * is told is what the served flags (on a real SQLite store) report back.
 */

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ServedFlags } from "../../../flags/served.js";
import { openSqliteStore } from "../../../store/sqlite/sqlite-store.js";
import { silentLogger } from "../../../util/log.js";
import { runTrafficConformance } from "../conformance.js";
import { FlagTrafficProvider, flagSink } from "./index.js";

runTrafficConformance({
  name: "flags",
  features: { dataPath: false, tamper: false, stopStart: false },
  async start() {
    const store = openSqliteStore(join(mkdtempSync(join(tmpdir(), "aviary-flags-")), "a.db"));
    const served = new ServedFlags({ store, log: silentLogger() });
    await served.start();
    return {
      provider: new FlagTrafficProvider(flagSink(served)),
      close: async () => {
        served.close();
        await store.close();
      },
    };
  },
});
