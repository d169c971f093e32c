/** The traffic provider conformance suite against the embedded router, listening on loopback. */

import { MetricsRegistry } from "../../../dataplane/metrics/registry.js";
import { Router } from "../../../dataplane/router.js";
import { Spec } from "../../../spec/schema.js";
import { systemClock } from "../../../util/clock.js";
import { silentLogger } from "../../../util/log.js";
import { runTrafficConformance } from "../conformance.js";
import { EmbeddedTrafficProvider } from "./index.js";

runTrafficConformance({
  name: "embedded",
  // In-process: it cannot be down, and nothing edits it by hand.
  features: { dataPath: true, tamper: false, stopStart: false },
  async start() {
    const metrics = new MetricsRegistry({ clock: systemClock });
    const router = new Router({
      metrics,
      proxy: Spec.parse({}).proxy,
      log: silentLogger(),
      clock: systemClock,
    });
    const { port } = await router.listen({ host: "127.0.0.1", port: 0 });
    return {
      provider: new EmbeddedTrafficProvider(router, systemClock),
      url: `http://127.0.0.1:${port}`,
      close: () => router.close(),
    };
  },
});
