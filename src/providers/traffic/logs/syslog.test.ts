import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { parseSyslog } from "./syslog.js";

const LINE = "aviary1 svc=checkout ver=v2 role=canary st=200 ms=0";

// Datagrams as HAProxy 2.6.12 and nginx 1.22.1 sent them (captured on a UDP socket; the
// real-engine test in engines.test.ts captures them afresh on every run).
const CAPTURED = {
  haproxy3164Host: `<134>Dec  5 11:57:30 vm haproxy[8782]: ${LINE}\n`,
  haproxy5424: `<142>1 2026-12-05T11:57:30.014264+00:00 vm haproxy 8782 - - ${LINE}\n`,
  haproxyCut: "<150>Dec  5 11:57:30 vm haproxy[8782]: aviary1 svc=checkout ver=v2 role=canary s\n",
  nginx: "<190>Dec  5 11:57:12 vm nginx: aviary1 svc=checkout ver=v2 role=stable st=200 sec=0.000",
  nginxNoHostTag:
    "<190>Dec  5 11:57:12 aviary: aviary1 svc=checkout ver=v2 role=stable st=200 sec=0.000",
};

function body(text: string | Buffer) {
  const r = parseSyslog(typeof text === "string" ? Buffer.from(text, "latin1") : text);
  assert.ok(r.ok, `expected a syslog message, got: ${r.ok ? "" : r.reason}`);
  return r;
}

function refused(text: string | Buffer): string {
  const r = parseSyslog(typeof text === "string" ? Buffer.from(text, "latin1") : text);
  assert.ok(!r.ok, `expected a refusal for ${JSON.stringify(text.toString())}`);
  return r.reason;
}

describe("parseSyslog on captured engine datagrams", () => {
  it("reads HAProxy's rfc3164 (with log-send-hostname) and rfc5424 with structured data -", () => {
    assert.deepEqual(body(CAPTURED.haproxy3164Host), { ok: true, format: "rfc3164", body: LINE });
    assert.deepEqual(body(CAPTURED.haproxy5424), { ok: true, format: "rfc5424", body: LINE });
  });

  it("reads HAProxy's rfc3164 without a host name", () => {
    assert.equal(body(`<134>Dec  5 11:57:30 haproxy[8782]: ${LINE}\n`).body, LINE);
  });

  it("reads nginx with its host name, and with nohostname and its own tag", () => {
    assert.equal(body(CAPTURED.nginx).body, CAPTURED.nginx.slice(31));
    assert.equal(body(CAPTURED.nginxNoHostTag).body, CAPTURED.nginx.slice(31));
  });

  it("hands a frame HAProxy cut at its log length on as it is (the line parser refuses it)", () => {
    assert.equal(
      body(CAPTURED.haproxyCut).body,
      "aviary1 svc=checkout ver=v2 role=canary s",
      "the trailing newline HAProxy adds after cutting is removed",
    );
  });

  it("strips only one trailing newline (CRLF too) and keeps an empty body empty", () => {
    assert.equal(body(`<134>Dec  5 11:57:30 h t: ${LINE}\r\n`).body, LINE);
    assert.equal(body(`<134>Dec  5 11:57:30 h t: ${LINE}\n\n`).body, `${LINE}\n`);
    assert.equal(body("<134>Dec  5 11:57:30 t:").body, "");
    assert.equal(body("<142>1 - - - - - -").body, "");
  });
});

describe("parseSyslog RFC 5424", () => {
  it("skips structured data elements, escapes included, and a UTF-8 BOM", () => {
    const sd = '[exampleSDID@32473 iut="3" eventSource="App]" eventID="1011"][x@1 a="b\\"]c\\\\"]';
    assert.equal(body(`<165>1 2026-12-05T11:57:30Z host app 1 ID47 ${sd} ${LINE}`).body, LINE);
    const bom = Buffer.concat([
      Buffer.from("<142>1 2026-12-05T11:57:30Z h haproxy 1 - - "),
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from(LINE),
    ]);
    assert.equal(body(bom).body, LINE);
  });

  it("refuses frames cut short and fields out of bounds", () => {
    assert.match(refused("<142>1 2026-12-05T11:57:30Z vm haproxy"), /cut short at its app-name/);
    assert.match(refused('<142>1 2026-12-05T11:57:30Z vm haproxy 1 - [a b="c'), /cut short/);
    assert.match(refused("<142>1 2026-12-05T11:57:30Z vm haproxy 1 - x msg"), /structured/);
    assert.match(refused(`<142>1 ${"9".repeat(65)} vm haproxy 1 - - msg`), /timestamp/);
    assert.match(refused("<142>1 2026-12-05T11:57:30Z  haproxy 1 - - msg"), /hostname/);
    assert.match(refused("<142>1 - - - - -x msg"), /structured data must be/);
  });
});

describe("parseSyslog refusals", () => {
  it("refuses a missing or bad priority", () => {
    assert.match(refused(LINE), /PRI/);
    assert.match(refused(`<192>Dec  5 11:57:30 t: ${LINE}`), /over 191/);
    assert.match(refused(`<013>Dec  5 11:57:30 t: ${LINE}`), /PRI/);
    assert.match(refused(`<1345>Dec  5 11:57:30 t: ${LINE}`), /PRI/);
    assert.match(refused(""), /PRI/);
  });

  it("refuses truncated RFC 3164 frames and bad timestamps", () => {
    assert.match(refused("<14"), /PRI/);
    assert.match(refused("<134>"), /timestamp/);
    assert.match(refused("<134>Dec  5 11:5"), /timestamp/);
    assert.match(refused("<134>Dec  5 11:57:30 "), /ends after its timestamp/);
    assert.match(refused("<134>Dec  5 11:57:30 vm"), /expected a tag/);
    assert.match(refused("<134>Dec  5 11:57:30 vm haproxy[1] msg"), /expected a tag/);
    assert.match(refused("<134>Xyz  5 11:57:30 t: msg"), /timestamp/);
    assert.match(refused("<134>Dec 05 11:57:30 t: msg"), /timestamp/, "the day is space-padded");
    assert.match(refused("<134>Dec  5 24:00:00 t: msg"), /timestamp/);
    assert.match(refused("<134>Dec  5 11:57:30 t:msg"), /expected a tag/);
  });

  it("passes non-UTF-8 bytes through unchanged, one character per byte", () => {
    const raw = Buffer.concat([
      Buffer.from("<134>Dec  5 11:57:30 t: aviary1 svc="),
      Buffer.from([0xff, 0xc3, 0x28, 0x00]),
    ]);
    assert.equal(body(raw).body, "aviary1 svc=\u00ff\u00c3(\u0000");
  });

  it("never throws on garbage bytes, and a huge datagram costs one scan", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const r = parseSyslog(Buffer.from(bytes));
        assert.equal(typeof r.ok, "boolean");
      }),
      { numRuns: 5000 },
    );
    // Prefixes that get past the first checks, then garbage.
    const prefixes = ["<134>Dec  5 11:57:30 ", "<142>1 ", "<142>1 - - - - - [", "<1>"];
    fc.assert(
      fc.property(fc.constantFrom(...prefixes), fc.string({ maxLength: 300 }), (p, tail) => {
        const r = parseSyslog(Buffer.from(p + tail, "latin1"));
        assert.equal(typeof r.ok, "boolean");
      }),
      { numRuns: 5000 },
    );
    const huge = Buffer.alloc(1 << 20, "[");
    huge.write("<142>1 - - - - - ");
    assert.match(refused(huge), /cut short/);
    const spaces = Buffer.alloc(1 << 20, " ");
    spaces.write("<134>Dec  5 11:57:30 ");
    assert.match(refused(spaces), /ends after its timestamp/);
  });
});
