/**
 * The published OpenFeature web SDK with the published OFREP web provider, under Node, against
 * Aviary's OFREP listener: bulk evaluation, a change made with an apply picked up, and an
 * unchanged refetch answered 304.
 *
 * The provider listens for changes on the SSE stream the bulk response advertises when an
 * `EventSource` exists, and polls otherwise. Node 20 has no global EventSource, so the SSE
 * case gives it undici's (a real client of the protocol, as a browser's is); the polling case
 * runs without one.
 */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { OFREPWebProvider } from "@openfeature/ofrep-web-provider";
import { OpenFeature, type Provider, ProviderEvents } from "@openfeature/web-sdk";
import { EventSource } from "undici";
import { CLIENT_KEY, FLAGS, type OfrepAviary, startOfrepAviary } from "./ofrep-fixtures.js";

let av: OfrepAviary;

/**
 * The provider's published types declare `hooks?: Hook[]`, which the SDK's `Provider` refuses
 * under this repository's exactOptionalPropertyTypes; at run time they are the same thing.
 */
const asProvider = (p: OFREPWebProvider) => p as unknown as Provider;

type Seen = Array<{ url: string; status: number }>;

/** A fetch that records every status its provider's requests got, in order (one per provider). */
const recordingFetch =
  (into: Seen): typeof fetch =>
  async (input, init) => {
    const res = await fetch(input, init);
    into.push({ url: String(input instanceof Request ? input.url : input), status: res.status });
    return res;
  };

const festive = () =>
  FLAGS.map((f) => (f.key === "banner-text" ? { ...f, defaultVariant: "festive" } : f));

async function until(what: string, ok: () => boolean, ms = 5_000): Promise<void> {
  const end = performance.now() + ms;
  while (!ok()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

before(async () => {
  av = await startOfrepAviary();
});
after(async () => {
  await OpenFeature.close();
  delete (globalThis as { EventSource?: unknown }).EventSource;
  await av?.close();
});

describe("@openfeature/web-sdk with @openfeature/ofrep-web-provider", () => {
  it("polling: bulk evaluation, a 304 on an unchanged refetch, an apply picked up", async () => {
    const statuses: Seen = [];
    await OpenFeature.setContext("polling", { targetingKey: "u-1", "user-type": "beta-tester" });
    await OpenFeature.setProviderAndWait(
      "polling",
      asProvider(
        new OFREPWebProvider({
          baseUrl: av.ofrep,
          headers: [["X-API-Key", CLIENT_KEY]],
          changeDetection: "polling",
          pollInterval: 100,
          cacheMode: "disabled",
          fetchImplementation: recordingFetch(statuses),
        }),
      ),
    );
    const client = OpenFeature.getClient("polling");
    assert.equal(client.getBooleanValue("new-checkout", false), true);
    assert.equal(client.getStringValue("banner-text", "?"), "Welcome");
    await until("a 304", () => statuses.some((s) => s.status === 304));
    let changed = 0;
    client.addHandler(ProviderEvents.ConfigurationChanged, () => {
      changed++;
    });
    await av.setFlags(festive());
    await until("the change", () => client.getStringValue("banner-text", "?") === "Happy holidays");
    assert.ok(changed >= 1);
    await av.setFlags(FLAGS);
    await until("the change back", () => client.getStringValue("banner-text", "?") === "Welcome");
  });

  it("SSE: the advertised stream brings the change without polling", async () => {
    (globalThis as { EventSource?: unknown }).EventSource = EventSource;
    const statuses: Seen = [];
    await OpenFeature.setContext("sse", { targetingKey: "u-2" });
    await OpenFeature.setProviderAndWait(
      "sse",
      asProvider(
        new OFREPWebProvider({
          baseUrl: av.ofrep,
          headers: [["Authorization", `Bearer ${CLIENT_KEY}`]],
          changeDetection: "sse",
          cacheMode: "disabled",
          fetchImplementation: recordingFetch(statuses),
        }),
      ),
    );
    const client = OpenFeature.getClient("sse");
    assert.equal(client.getStringValue("banner-text", "?"), "Welcome");
    // The stream is open before the change is made (it is the server's count).
    await until("the stream", () => (av.aviary.ofrep?.streams.size ?? 0) > 0);
    const before = statuses.length;
    await av.setFlags(festive());
    await until("the change", () => client.getStringValue("banner-text", "?") === "Happy holidays");
    assert.ok(statuses.length > before, "refetched after the event");
    assert.deepEqual(
      statuses.filter((s) => s.status !== 200 && s.status !== 304),
      [],
      "no errors",
    );
  });
});
