/** The traffic provider conformance suite against the no-op provider (no data path). */

import { runTrafficConformance } from "../conformance.js";
import { NoopTrafficProvider } from "./index.js";

runTrafficConformance({
  name: "noop",
  features: { dataPath: false, tamper: false, stopStart: false },
  async start() {
    return { provider: new NoopTrafficProvider(), close: async () => {} };
  },
});
