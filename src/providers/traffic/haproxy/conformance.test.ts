/**
 * The traffic provider conformance suite against a real HAProxy (master-worker, loopback, a
 * temporary directory). The hand edit is what an operator would type: `set map` on the stats
 * socket. Stop and start end the process and start it again from the files as first rendered.
 */

import { after } from "node:test";
import { startHaproxy } from "../../../../test/engines/haproxy.js";
import { systemClock } from "../../../util/clock.js";
import { silentLogger } from "../../../util/log.js";
import { runTrafficConformance } from "../conformance.js";
import { createHaproxyProvider } from "./index.js";
import { mapPath } from "./layout.js";
import { RuntimeApi } from "./runtime-api.js";

let closeEngine: (() => Promise<void>) | undefined;
after(async () => closeEngine?.());

runTrafficConformance({
  name: "haproxy",
  features: { dataPath: true, tamper: true, stopStart: true },
  async start(services) {
    const engine = await startHaproxy({ services });
    closeEngine = () => engine.close();
    const settings = engine.spec.dataplane.haproxy;
    if (settings === undefined) throw new Error("the test spec has no haproxy settings");
    const provider = createHaproxyProvider(settings, {
      log: silentLogger(),
      clock: systemClock,
    });
    const socket = new RuntimeApi(settings.runtimeApi, 2_000);
    return {
      provider,
      url: engine.url,
      async tamper(service, weight) {
        const command = `set map ${mapPath(settings.mapsDir, service)} weight ${Math.round(weight * 100)}`;
        const answer = await socket.session("tamper", (s) => s.one(command));
        if (answer.trim() !== "") throw new Error(`${command}: ${answer}`);
      },
      stop: () => engine.stop(),
      start: () => engine.start(),
      close: () => engine.close(),
    };
  },
});
