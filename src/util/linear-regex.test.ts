import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compileLinearRegex, linearRegexProblem, MAX_REGEX_PROGRAM } from "./linear-regex.js";

describe("linear-time regexes", () => {
  it("searches unanchored, like RegExp.test, with RE2 syntax", () => {
    const re = compileLinearRegex("beta-(tester|user)");
    assert.equal(re.test("a beta-tester here"), true);
    assert.equal(re.test("beta-admin"), false);
    assert.equal(compileLinearRegex("^(1|yes)$").test("yes"), true);
    assert.equal(compileLinearRegex("^(1|yes)$").test("yes!"), false);
    assert.equal(compileLinearRegex("(?i)^Beta$").test("bETA"), true);
    assert.equal(compileLinearRegex("\\d{3}-\\w+").test("tel 555-abc"), true);
  });

  it("answers the classic catastrophic patterns on long hostile input (they would backtrack for ever in V8)", () => {
    // 2^60 steps for a backtracking engine; one linear pass here. No clock is read: the test
    // would simply never finish if the engine backtracked.
    const hostile = `${"a".repeat(60)}!`;
    assert.equal(compileLinearRegex("(a+)+$").test(hostile), false);
    assert.equal(compileLinearRegex("(a|a)*b").test(hostile), false);
    assert.equal(compileLinearRegex("(a|aa)+$").test(hostile), false);
    assert.equal(compileLinearRegex("^(\\w+\\s?)*$").test(`${"word ".repeat(30)}!`), false);
  });

  it("refuses what RE2 leaves out, saying why", () => {
    for (const [pattern, words] of [
      ["(a)\\1", "invalid escape sequence"],
      ["a(?=b)", "unsupported Perl syntax"],
      ["(?<!x)y", "invalid named capture"],
      ["a++", "nested repetition"],
      ["([", "missing"],
    ] as const) {
      const problem = linearRegexProblem(pattern);
      assert.ok(problem?.includes(words), `${pattern}: ${problem}`);
      assert.ok(problem?.includes("RE2 syntax"), problem);
      assert.throws(() => compileLinearRegex(pattern), /invalid regular expression/);
    }
  });

  it("refuses a program too large to match cheaply", () => {
    // A counted repeat compiles to one instruction per repetition (RE2 caps a count at 1000).
    const problem = linearRegexProblem("(x{50}){20}");
    assert.match(problem ?? "", new RegExp(`at most ${MAX_REGEX_PROGRAM}`));
    assert.equal(linearRegexProblem("^(beta|alpha)-tester$"), undefined);
  });
});
