import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock } from "../../util/clock.js";
import { MetricsRegistry } from "./registry.js";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

// A strict reader of the Prometheus text format 0.0.4: every line must be a HELP or TYPE
// comment or a sample, every sample must belong to a family declared before it.
function parse(text: string): { types: Map<string, string>; samples: Sample[] } {
  assert.ok(text.endsWith("\n"), "exposition ends with a newline");
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const name = "[a-zA-Z_:][a-zA-Z0-9_:]*";
  const sampleLine = new RegExp(`^(${name})(?:\\{(.*)\\})? (\\S+)$`);
  const label = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/;
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const comment = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (comment) {
      if (comment[1] === "TYPE") {
        assert.match(comment[3]!, /^(counter|gauge|histogram|summary|untyped)$/);
        assert.ok(!types.has(comment[2]!), `one TYPE per family: ${comment[2]}`);
        types.set(comment[2]!, comment[3]!);
      }
      continue;
    }
    const m = sampleLine.exec(line);
    assert.ok(m, `not a sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    let rest = m[2] ?? "";
    while (rest !== "") {
      const l = label.exec(rest);
      assert.ok(l, `bad labels in ${JSON.stringify(line)}`);
      assert.ok(!(l[1]! in labels), `duplicate label ${l[1]}`);
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
      rest = rest.slice(l[0].length);
    }
    const raw = m[3]!;
    const value = raw === "+Inf" ? Infinity : raw === "-Inf" ? -Infinity : Number(raw);
    assert.ok(raw === "NaN" || !Number.isNaN(value), `bad value ${raw}`);
    const family = [...types.keys()].find(
      (f) =>
        m[1] === f ||
        (types.get(f) === "histogram" && [`${f}_bucket`, `${f}_sum`, `${f}_count`].includes(m[1]!)),
    );
    assert.ok(family, `sample of an undeclared family: ${m[1]}`);
    samples.push({ name: m[1]!, labels, value });
  }
  return { types, samples };
}

function pick(samples: Sample[], name: string, labels: Record<string, string>): Sample[] {
  return samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
}

function one(samples: Sample[], name: string, labels: Record<string, string>): number {
  const found = pick(samples, name, labels);
  assert.equal(found.length, 1, `${name} ${JSON.stringify(labels)}`);
  return found[0]!.value;
}

const WEIRD = 'we"ird\\svc\nname';

function recordKnownTraffic(metrics: MetricsRegistry) {
  const stable = metrics.recorder("checkout", "v1", "stable");
  stable.response(200, 3);
  stable.response(200, 7);
  stable.response(201, 30);
  stable.response(503, 200);
  stable.failure("connect", 1);
  const canary = metrics.recorder("checkout", "v2", "canary");
  canary.response(200, 20_000);
  canary.response(200, 20_000);
  metrics.recorder("checkout", "v2", "mirror").response(404, 12);
  metrics.recorder(WEIRD, "v9", "canary").failure("timeout", 5000);
}

describe("Prometheus exposition", () => {
  it("is valid text whose counts match what was recorded", async () => {
    const metrics = new MetricsRegistry({ clock: new ManualClock() });
    recordKnownTraffic(metrics);
    assert.match(metrics.contentType, /^text\/plain; version=0\.0\.4/);
    const { types, samples } = parse(await metrics.metrics());
    assert.equal(types.get("aviary_requests_total"), "counter");
    assert.equal(types.get("aviary_request_duration_seconds"), "histogram");
    assert.ok(
      samples.every((s) => s.name.startsWith("aviary_")),
      "a private registry: no default process metrics",
    );

    const req = (labels: Record<string, string>) => one(samples, "aviary_requests_total", labels);
    const v1 = { service: "checkout", version: "v1", role: "stable" };
    assert.equal(req({ ...v1, code: "2xx" }), 3);
    assert.equal(req({ ...v1, code: "5xx" }), 1);
    assert.equal(req({ ...v1, code: "4xx" }), 0, "every code is exposed from the start");
    assert.equal(req({ ...v1, code: "connect_error" }), 1);
    assert.equal(req({ ...v1, code: "timeout" }), 0);
    assert.equal(req({ service: "checkout", version: "v2", role: "canary", code: "2xx" }), 2);
    assert.equal(req({ service: "checkout", version: "v2", role: "mirror", code: "4xx" }), 1);
    assert.equal(req({ service: WEIRD, version: "v9", role: "canary", code: "timeout" }), 1);

    const le = (labels: Record<string, string>, bound: string) =>
      one(samples, "aviary_request_duration_seconds_bucket", { ...labels, le: bound });
    assert.equal(le(v1, "0.005"), 2); // 1 ms and 3 ms
    assert.equal(le(v1, "0.01"), 3);
    assert.equal(le(v1, "0.025"), 3);
    assert.equal(le(v1, "0.05"), 4);
    assert.equal(le(v1, "0.25"), 5);
    assert.equal(le(v1, "+Inf"), 5);
    const v2 = { service: "checkout", version: "v2", role: "canary" };
    assert.equal(le(v2, "10"), 0);
    assert.equal(le(v2, "+Inf"), 2);
    const sum = one(samples, "aviary_request_duration_seconds_sum", v1);
    assert.ok(Math.abs(sum - (3 + 7 + 30 + 200 + 1) / 1000) < 1e-12);
  });

  it("has monotone histograms that agree with the request counters", async () => {
    const metrics = new MetricsRegistry({ clock: new ManualClock() });
    recordKnownTraffic(metrics);
    const { samples } = parse(await metrics.metrics());
    const series = pick(samples, "aviary_request_duration_seconds_count", {});
    assert.equal(series.length, 4);
    for (const { labels, value: count } of series) {
      assert.deepEqual(Object.keys(labels).sort(), ["role", "service", "version"]);
      const buckets = pick(samples, "aviary_request_duration_seconds_bucket", labels);
      const bounds = buckets.map((b) => (b.labels.le === "+Inf" ? Infinity : Number(b.labels.le)));
      assert.equal(bounds.at(-1), Infinity, "+Inf comes last");
      assert.equal(bounds[0], 0.005);
      assert.equal(bounds.at(-2), 10);
      for (let i = 1; i < buckets.length; i++) {
        assert.ok(bounds[i]! > bounds[i - 1]!, "bounds ascend");
        assert.ok(buckets[i]!.value >= buckets[i - 1]!.value, "counts never fall");
      }
      assert.equal(buckets.at(-1)!.value, count, "+Inf bucket equals _count");
      const requests = pick(samples, "aviary_requests_total", labels);
      assert.equal(requests.length, 8);
      assert.equal(
        requests.reduce((a, s) => a + s.value, 0),
        count,
        "every request, failures included, is timed once",
      );
      assert.ok(one(samples, "aviary_request_duration_seconds_sum", labels) > 0);
    }
  });

  it("counts a latency equal to a bound into that bound's bucket", async () => {
    const metrics = new MetricsRegistry({ clock: new ManualClock() });
    const r = metrics.recorder("checkout", "v1", "stable");
    for (const ms of [5, 10, 10.000001]) r.response(200, ms);
    const { samples } = parse(await metrics.metrics());
    const le = (bound: string) =>
      one(samples, "aviary_request_duration_seconds_bucket", { version: "v1", le: bound });
    assert.equal(le("0.005"), 1);
    assert.equal(le("0.01"), 2);
    assert.equal(le("0.025"), 3);
  });

  it("keeps counting across scrapes and registries", async () => {
    const metrics = new MetricsRegistry({ clock: new ManualClock() });
    const other = new MetricsRegistry({ clock: new ManualClock() });
    const r = metrics.recorder("checkout", "v1", "stable");
    r.response(200, 1);
    other.recorder("checkout", "v1", "stable").response(200, 1);
    const labels = { service: "checkout", version: "v1", role: "stable", code: "2xx" };
    const count = async () =>
      one(parse(await metrics.metrics()).samples, "aviary_requests_total", labels);
    assert.equal(await count(), 1);
    assert.equal(await count(), 1, "a scrape does not reset");
    r.response(204, 1);
    assert.equal(await count(), 2);
  });
});
