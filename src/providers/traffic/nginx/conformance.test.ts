/** The traffic provider conformance suite against a real nginx with Aviary's rendered include. */

import { request } from "undici";
import { startAviaryNginx } from "../../../../test/engines/nginx.js";
import { systemClock } from "../../../util/clock.js";
import { silentLogger } from "../../../util/log.js";
import { runTrafficConformance } from "../conformance.js";
import { createNginxProvider } from "./index.js";

runTrafficConformance({
  name: "nginx",
  features: { dataPath: true, tamper: true, stopStart: true },
  async start(services) {
    // The suite hands over parsed services; they go back through the schema with the settings.
    const e = await startAviaryNginx(services.map((s) => ({ ...s })));
    const settings = e.spec.dataplane.nginx;
    if (settings === undefined) throw new Error("rendered without nginx settings");
    const provider = createNginxProvider(
      { ...settings, timeout: "1s" },
      { log: silentLogger(), clock: systemClock },
    );
    return {
      provider,
      url: e.url,
      // An operator's hand edit: read the service's state from the control server, change the
      // weight, put it back.
      async tamper(service, weight) {
        const url = `${e.controlUrl}/aviary/v1/services/${service}`;
        const got = await request(url);
        const state = (await got.body.json()) as { weight: number };
        state.weight = weight;
        const put = await request(url, {
          method: "PUT",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(state),
        });
        await put.body.dump();
        if (put.statusCode !== 204) throw new Error(`tamper: ${put.statusCode}`);
      },
      stop: () => e.nginx.stop(),
      start: () => e.nginx.start(e.ready),
      async close() {
        await provider.close();
        await e.close();
      },
    };
  },
});
