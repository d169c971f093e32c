/**
 * Terminal text as styled segments: fitted to a width in display columns (wide characters
 * count two, control characters from server data are neutralised so they cannot move the
 * cursor), then painted with ANSI colours or left plain. Truncation happens before painting,
 * so an escape sequence is never cut in half.
 *
 * @module
 */

export type Style = "bold" | "dim" | "red" | "green" | "yellow" | "cyan" | "boldRed";

export interface Segment {
  text: string;
  style?: Style;
}

export type Line = Segment[];

export function seg(text: string, style?: Style): Segment {
  return style === undefined ? { text } : { text, style };
}

const SGR: Record<Style, [string, string]> = {
  bold: ["\x1b[1m", "\x1b[22m"],
  dim: ["\x1b[2m", "\x1b[22m"],
  red: ["\x1b[31m", "\x1b[39m"],
  green: ["\x1b[32m", "\x1b[39m"],
  yellow: ["\x1b[33m", "\x1b[39m"],
  cyan: ["\x1b[36m", "\x1b[39m"],
  boldRed: ["\x1b[1;31m", "\x1b[22;39m"],
};

/** Display columns of one code point: 0 for combining marks, 2 for East Asian wide ones. */
export function charWidth(cp: number): number {
  if (cp === 0x200b || (cp >= 0x300 && cp <= 0x36f) || (cp >= 0xfe00 && cp <= 0xfe0f)) return 0;
  if (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0xa4cf && cp !== 0x303f) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1f64f) ||
    (cp >= 0x1f900 && cp <= 0x1f9ff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  )
    return 2;
  return 1;
}

export function textWidth(text: string): number {
  let w = 0;
  for (const ch of text) w += charWidth(ch.codePointAt(0) as number);
  return w;
}

/** Control characters (C0, DEL, C1) become `?`, tabs a space: server text cannot drive the terminal. */
export function sanitize(text: string): string {
  return text.replace(/\t/g, " ").replace(/[\x00-\x1f\x7f-\x9f]/g, "?");
}

/** The line cut to `width` columns, ending in `…` when something was cut. */
export function fit(line: Line, width: number): Line {
  const clean = line.map((s) => ({ ...s, text: sanitize(s.text) }));
  const total = clean.reduce((n, s) => n + textWidth(s.text), 0);
  if (total <= width) return clean;
  const out: Line = [];
  let left = Math.max(0, width - 1); // room for the ellipsis
  for (const s of clean) {
    if (left <= 0) break;
    let text = "";
    for (const ch of s.text) {
      const w = charWidth(ch.codePointAt(0) as number);
      if (w > left) {
        left = 0;
        break;
      }
      text += ch;
      left -= w;
    }
    if (text !== "") out.push({ ...s, text });
  }
  if (width > 0) out.push({ text: "…" });
  return out;
}

export function plain(line: Line): string {
  return line.map((s) => s.text).join("");
}

export function paint(line: Line, color: boolean): string {
  if (!color) return plain(line);
  return line
    .map((s) => {
      if (s.style === undefined || s.text === "") return s.text;
      const [on, off] = SGR[s.style];
      return `${on}${s.text}${off}`;
    })
    .join("");
}

/** Pads a line with spaces to `width` columns (for table cells). */
export function padEndCols(text: string, width: number): string {
  return text + " ".repeat(Math.max(0, width - textWidth(text)));
}

export function padStartCols(text: string, width: number): string {
  return " ".repeat(Math.max(0, width - textWidth(text))) + text;
}
