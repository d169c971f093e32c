import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatTokenLine, hashToken, parseTokensFile, TokensFileError } from "./tokens-file.js";

const H = hashToken("a-token");
const H2 = hashToken("another-token");

describe("the tokens file", () => {
  it("reads 3- and 4-field lines, skipping comments and blank lines", () => {
    const text = `# tokens\n\n  sha256:${H.toUpperCase()} read-only dash  \r\nsha256:${H2} operator ci 2026-01-02T03:04:05.000Z\n# end`;
    assert.deepEqual(parseTokensFile(text, "f"), [
      { hash: H, role: "read-only", name: "dash", created: null, line: 3 },
      { hash: H2, role: "operator", name: "ci", created: "2026-01-02T03:04:05.000Z", line: 4 },
    ]);
    assert.deepEqual(parseTokensFile("", "f"), []);
  });

  it("formats what it reads back", () => {
    const e = {
      hash: H,
      role: "operator" as const,
      name: "ci",
      created: "2026-01-02T03:04:05.000Z",
    };
    assert.deepEqual(parseTokensFile(`${formatTokenLine(e)}\n`, "f"), [{ ...e, line: 1 }]);
    assert.equal(formatTokenLine({ ...e, created: null }), `sha256:${H} operator ci`);
  });

  it("refuses a bad line with file:line and what is wrong, never quoting the hash field", () => {
    const cases: Array<[string, string]> = [
      [
        "a-token operator",
        "expected 'sha256:<64 hex digits> <read-only|operator|router|client> <name> [created]', found 2 fields",
      ],
      [
        `sha256:${H} operator ci x y`,
        "expected 'sha256:<64 hex digits> <read-only|operator|router|client> <name> [created]', found 5 fields",
      ],
      [
        "a-token operator ci",
        "the first field must be sha256: followed by the token's 64-hex-digit SHA-256 (never the token itself)",
      ],
      [
        `sha256:${H.slice(1)} operator ci`,
        "the first field must be sha256: followed by the token's 64-hex-digit SHA-256 (never the token itself)",
      ],
      [`sha256:${H} admin ci`, "role must be read-only, operator, router or client, got 'admin'"],
      [
        `sha256:${H} a-token-0123456789abcdef ci`,
        "role must be read-only, operator, router or client",
      ],
      [
        `sha256:${H} operator -ci`,
        "a token name is 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit",
      ],
      [
        `sha256:${H} operator operator`,
        "the name operator belongs to the operator token (AVIARY_TOKEN or the data directory's operator-token)",
      ],
      [`sha256:${H} operator ci yesterday`, "the created field must be an ISO date and time"],
    ];
    for (const [line, problem] of cases) {
      assert.throws(
        () => parseTokensFile(`# header\n${line}\n`, "/data/tokens"),
        (err: unknown) => {
          assert.ok(err instanceof TokensFileError);
          assert.equal(err.message, `/data/tokens:2: ${problem}`);
          assert.equal(err.line, 2);
          assert.ok(!err.message.includes("a-token "), "the token is not quoted");
          return true;
        },
        line,
      );
    }
  });

  it("refuses a name or a token listed twice, naming both lines", () => {
    assert.throws(
      () => parseTokensFile(`sha256:${H} operator ci\nsha256:${H2} read-only ci\n`, "t"),
      (err: unknown) =>
        err instanceof TokensFileError &&
        err.message === "t:2: this name is already used on line 1",
    );
    assert.throws(
      () => parseTokensFile(`sha256:${H} operator ci\n\nsha256:${H} read-only dash\n`, "t"),
      (err: unknown) =>
        err instanceof TokensFileError &&
        err.message === "t:3: the same token is already listed on line 1",
    );
  });
});
