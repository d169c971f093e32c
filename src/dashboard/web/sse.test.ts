import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type SseMessage, SseParser } from "./sse.js";

function parse(chunks: string[]): { messages: SseMessage[]; retries: number[]; parser: SseParser } {
  const messages: SseMessage[] = [];
  const retries: number[] = [];
  const parser = new SseParser({
    message: (m) => messages.push(m),
    retry: (ms) => retries.push(ms),
  });
  for (const c of chunks) parser.push(c);
  return { messages, retries, parser };
}

/** Aviary's own stream, as `src/api/stream.ts` writes it. */
const STREAM = [
  ": aviary event stream\nretry: 2000\n\n",
  'id: 41\nevent: rollout-event\ndata: {"seq":41,"type":"weight.set"}\n\n',
  ": heartbeat\n\n",
  'event: measurement\ndata: {"runId":"r:step2:1"}\n\n',
  'id: 42\nevent: rollout-event\ndata: {"seq":42,"type":"paused"}\n\n',
].join("");

describe("SSE parser", () => {
  it("reads Aviary's stream: events, ids, comments and the retry field", () => {
    const { messages, retries, parser } = parse([STREAM]);
    assert.deepEqual(
      messages.map((m) => [m.event, m.lastEventId, JSON.parse(m.data)]),
      [
        ["rollout-event", "41", { seq: 41, type: "weight.set" }],
        ["measurement", "41", { runId: "r:step2:1" }],
        ["rollout-event", "42", { seq: 42, type: "paused" }],
      ],
    );
    assert.deepEqual(retries, [2000]);
    assert.equal(parser.lastEventId, "42");
  });

  it("gives the same messages however the text is split, one character at a time included", () => {
    const whole = parse([STREAM]).messages;
    for (const size of [1, 2, 3, 7, 13]) {
      const chunks: string[] = [];
      for (let i = 0; i < STREAM.length; i += size) chunks.push(STREAM.slice(i, i + size));
      assert.deepEqual(parse(chunks).messages, whole, `chunks of ${size}`);
    }
  });

  it("accepts CRLF and lone CR line endings, even a CRLF split across two chunks", () => {
    const crlf = parse(["data: a\r", "\ndata: b\r\n\r", "\n"]).messages;
    assert.deepEqual(
      crlf.map((m) => m.data),
      ["a\nb"],
    );
    const cr = parse(["event: x\rdata: 1\r\rdata: 2\r\r"]).messages;
    assert.deepEqual(
      cr.map((m) => [m.event, m.data]),
      [
        ["x", "1"],
        ["message", "2"],
      ],
    );
  });

  it("joins data lines, strips one leading space only, and keeps colons inside values", () => {
    const { messages } = parse(["data:no space\ndata:  two spaces\ndata: a: b\n\n"]);
    assert.equal(messages[0]?.data, "no space\n two spaces\na: b");
  });

  it("does not dispatch a message without data, and resets the event type after each message", () => {
    const { messages } = parse(["event: lonely\n\n", "event: a\ndata: 1\n\ndata: 2\n\n"]);
    assert.deepEqual(
      messages.map((m) => [m.event, m.data]),
      [
        ["a", "1"],
        ["message", "2"],
      ],
    );
  });

  it("ignores a retry that is not all digits, an id with NUL, and unknown fields", () => {
    const { messages, retries, parser } = parse([
      "retry: 10s\nretry: -1\nid: 7\nid: a\0b\nfoo: bar\ndata: x\n\n",
    ]);
    assert.deepEqual(retries, []);
    assert.equal(parser.lastEventId, "7");
    assert.equal(messages[0]?.lastEventId, "7");
  });

  it("a field name without a colon is a field with an empty value", () => {
    const { messages } = parse(["data\ndata\n\n"]);
    assert.equal(messages[0]?.data, "\n");
  });

  it("drops a byte-order mark at the very start only, and an unfinished message at the end", () => {
    const p = parse(["\uFEFFdata: one\n\n", "data: \uFEFFtwo\n\n", "data: never finished\n"]);
    assert.deepEqual(
      p.messages.map((m) => m.data),
      ["one", "\uFEFFtwo"],
    );
    p.parser.end();
    p.parser.push("\n");
    assert.equal(p.messages.length, 2, "the unfinished message was discarded at end()");
  });
});
