/**
 * One syslog datagram as HAProxy 2.6 and nginx 1.22 send it, down to its message body.
 *
 * What the engines send (captured from the real binaries, see syslog.test.ts):
 * - HAProxy `log ... format rfc3164` (its default):
 *   `<134>Dec  5 11:57:30 haproxy[8782]: MSG\n`, with the host name after the timestamp only
 *   when `log-send-hostname` is set. A message longer than the log's `len` is cut, then `\n`.
 * - HAProxy `log ... format rfc5424`:
 *   `<142>1 2026-12-05T11:57:30.014264+00:00 vm haproxy 8782 - - MSG\n`, structured data `-`
 *   unless `log-format-sd` fills it.
 * - nginx `access_log syslog:server=...`: `<190>Dec  5 11:57:12 vm nginx: MSG`, and without the
 *   host name with `nohostname`; `tag=` replaces `nginx`. No trailing newline.
 *
 * The datagram is read as latin1, so every byte maps to one character and nothing is replaced:
 * non-UTF-8 bytes reach the line parser as they came, which refuses them there.
 * Parsing is a few index scans and anchored regexes without nested repetition (linear time,
 * whatever a sender puts in the datagram); it never throws.
 *
 * @module
 */

/** The body of a syslog message, or why the datagram is not one. */
export type SyslogResult =
  | { ok: true; format: "rfc3164" | "rfc5424"; body: string }
  | { ok: false; reason: string };

const MONTHS = new Set([
  "Jan",
  "Feb",
  "Mar",
  "Apr",
  "May",
  "Jun",
  "Jul",
  "Aug",
  "Sep",
  "Oct",
  "Nov",
  "Dec",
]);

// `<PRI>`: 0..191 = facility * 8 + severity, no leading zero (RFC 5424 6.2.1).
const PRI = /^<(0|[1-9]\d{0,2})>/;
// RFC 3164 timestamp `Mmm dd hh:mm:ss `, the day padded with a space.
const BSD_TIMESTAMP = /^([A-Z][a-z]{2}) ( [1-9]|[12]\d|3[01]) ([01]\d|2[0-3]):[0-5]\d:[0-5]\d /;
// A tag: HAProxy's `haproxy[pid]:` (or its `log-tag`), nginx's `nginx:` or `tag=` value.
const TAG = /^[A-Za-z0-9_.\-/]{1,64}(\[\d{1,10}\])?:$/;
// The UTF-8 byte order mark an RFC 5424 MSG may start with, as latin1 characters.
const BOM = "\u00ef\u00bb\u00bf";
// RFC 5424 header field lengths: TIMESTAMP (a full date-time), HOSTNAME, APP-NAME, PROCID, MSGID.
const HEADER_FIELDS: ReadonlyArray<readonly [string, number]> = [
  ["timestamp", 64],
  ["hostname", 255],
  ["app-name", 48],
  ["procid", 128],
  ["msgid", 32],
];

/** The message body of one datagram (HAProxy rfc3164/rfc5424, nginx), or why not. */
export function parseSyslog(datagram: Buffer): SyslogResult {
  let text = datagram.toString("latin1");
  // HAProxy ends every message with a newline; nginx sends none.
  if (text.endsWith("\n")) text = text.slice(0, text.endsWith("\r\n") ? -2 : -1);
  const pri = PRI.exec(text);
  if (pri === null) return fail("no <PRI> at the start");
  if (Number(pri[1]) > 191) return fail(`priority ${pri[1]} is over 191`);
  const rest = text.slice(pri[0].length);
  return rest.startsWith("1 ") ? rfc5424(rest.slice(2)) : rfc3164(rest);
}

function rfc3164(text: string): SyslogResult {
  const ts = BSD_TIMESTAMP.exec(text);
  if (ts === null || !MONTHS.has(ts[1] as string))
    return fail("expected an RFC 3164 timestamp (Mmm dd hh:mm:ss) or RFC 5424 version 1");
  let at = ts[0].length;
  let token = nextToken(text, at);
  if (token === undefined) return fail("RFC 3164 message ends after its timestamp");
  if (!TAG.test(token)) {
    // Not a tag, so the host name (HAProxy's log-send-hostname, nginx's default).
    at += token.length + 1;
    token = nextToken(text, at);
    if (token === undefined || !TAG.test(token))
      return fail("expected a tag such as haproxy[123]: or nginx: after the host name");
  }
  at += token.length;
  if (at === text.length) return ok("rfc3164", "");
  if (text[at] !== " ") return fail("expected a space after the tag");
  return ok("rfc3164", text.slice(at + 1));
}

function rfc5424(text: string): SyslogResult {
  let at = 0;
  for (const [name, max] of HEADER_FIELDS) {
    const end = text.indexOf(" ", at);
    if (end === -1) return fail(`RFC 5424 header is cut short at its ${name}`);
    const field = text.slice(at, end);
    if (field.length === 0 || field.length > max || !printable(field))
      return fail(`RFC 5424 ${name} must be 1-${max} printable ASCII characters`);
    at = end + 1;
  }
  const sd = structuredDataEnd(text, at);
  if (typeof sd === "string") return fail(sd);
  if (sd === text.length) return ok("rfc5424", "");
  if (text[sd] !== " ") return fail("expected a space after the structured data");
  let body = text.slice(sd + 1);
  if (body.startsWith(BOM)) body = body.slice(BOM.length);
  return ok("rfc5424", body);
}

/** Where RFC 5424 STRUCTURED-DATA starting at `at` ends (`-` or `[id k="v" ...]...`), or why not. */
function structuredDataEnd(text: string, at: number): number | string {
  if (text[at] === "-") return at + 1;
  if (text[at] !== "[") return "RFC 5424 structured data must be - or [id ...]";
  while (text[at] === "[") {
    at++;
    let quoted = false;
    for (;;) {
      if (at >= text.length) return "RFC 5424 structured data is cut short";
      const c = text[at];
      if (quoted) {
        if (c === "\\") at++;
        else if (c === '"') quoted = false;
      } else if (c === '"') quoted = true;
      else if (c === "]") break;
      at++;
    }
    at++;
  }
  return at;
}

function nextToken(text: string, at: number): string | undefined {
  const end = text.indexOf(" ", at);
  const token = text.slice(at, end === -1 ? text.length : end);
  return token.length === 0 ? undefined : token;
}

function printable(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 33 || c > 126) return false;
  }
  return true;
}

function ok(format: "rfc3164" | "rfc5424", body: string): SyslogResult {
  return { ok: true, format, body };
}

function fail(reason: string): SyslogResult {
  return { ok: false, reason };
}
