/**
 * `secrets import`'s parser (src/cli/dotenv.ts) on flyctl's own parser_test.go examples (the rules of
 * ../shared/reference/secrets-model.md §2.1), on the quote and comment rules that document adds,
 * and on the three departures (one-line """, unterminated """, errors without the line's text).
 */
import { describe, expect, it } from "vitest";
import { DotenvError, parseDotenv } from "../src/cli/dotenv.js";

const obj = (text: string) => Object.fromEntries(parseDotenv(text));

describe("secrets import: Fly's .env rules", () => {
  it("flyctl Test_parse_basic: comments and blank lines are skipped", () => {
    expect(
      obj("\n# A comment plus a new line with spaces\n  \nFOO=BAR\n# Another comment\nQUX=NAH\n"),
    ).toEqual({
      FOO: "BAR",
      QUX: "NAH",
    });
  });

  it("flyctl Test_parse_unix and Test_parse_windows: LF and CRLF lines read alike", () => {
    expect(obj("FOO=BAR\nQUX=NAH\n")).toEqual({ FOO: "BAR", QUX: "NAH" });
    expect(obj("FOO=BAR\r\nQUX=NAH\r\n")).toEqual({ FOO: "BAR", QUX: "NAH" });
  });

  it('flyctl Test_parse_mulltiline: """ opens a value that ends on the line ending with """', () => {
    const text =
      '\nFOO=BAR\nMULTILINE="""SOMETHING\nANOTHER LINE\n\nENDSHERE"""\nTRAILERENV=what\nFIN="""Here is the end,\nmy only friend"""\n';
    expect(obj(text)).toEqual({
      FOO: "BAR",
      MULTILINE: "SOMETHING\nANOTHER LINE\n\nENDSHERE",
      TRAILERENV: "what",
      FIN: "Here is the end,\nmy only friend",
    });
  });

  it("flyctl Test_parse_with_comma, _with_equal, _with_double_quotes, _with_spaces: values kept as written", () => {
    expect(obj("FOO=BAR,BAZ")).toEqual({ FOO: "BAR,BAZ" });
    expect(obj("FOO=BAR BAZ")).toEqual({ FOO: "BAR BAZ" });
    expect(obj("FOO=a=b")).toEqual({ FOO: "a=b" });
    expect(obj('FOO="BAR BAZ"')).toEqual({ FOO: "BAR BAZ" });
    expect(obj("FOO = BAR")).toEqual({ FOO: "BAR" });
  });

  it("one pair of single or double quotes is removed; inline comments end a value outside quotes only", () => {
    expect(obj('A=\'x y\'\nB="q"\nC=""x""')).toEqual({ A: "x y", B: "q", C: '"x"' });
    expect(obj("A=value # why\nB=\"v # kept\" # dropped\nC=pa#ss\nD='it''s'")).toEqual({
      A: "value",
      B: "v # kept",
      C: "pa#ss",
      D: "it''s",
    });
  });

  it('departure: A="""x""" on one line is the value x, and the next lines stay their own (flyctl #4509)', () => {
    expect(obj('A="""x"""\nB=2')).toEqual({ A: "x", B: "2" });
  });

  it('departures: an unterminated """ and a line without = are errors naming the line, never its text', () => {
    const secretish = "fm2_lJPECAAAAAAAAAAAAAAA";
    for (const [text, line] of [
      [`A=1\n${secretish}\n`, 2],
      [`A=1\nB="""${secretish}\nmore\n`, 2],
    ] as const) {
      let err: unknown;
      try {
        parseDotenv(text);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(DotenvError);
      expect((err as DotenvError).line).toBe(line);
      expect((err as Error).message).not.toContain(secretish);
    }
  });

  it("a name given twice keeps the last value; nothing is expanded or unescaped", () => {
    expect(obj("A=1\nA=2\nB=$A\\n")).toEqual({ A: "2", B: "$A\\n" });
  });
});
