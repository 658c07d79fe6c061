import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { quoteJsonNumbers } from "../shared/json-exact.ts";

/** What the quoted document must parse to: the same value with every number as its JS text. */
function numbersToStrings(value: unknown): unknown {
  if (typeof value === "number") return String(value);
  if (Array.isArray(value)) return value.map(numbersToStrings);
  if (value !== null && typeof value === "object") {
    // fromEntries defines own properties, so a "__proto__" key survives like it does in JSON.parse.
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, numbersToStrings(v)]));
  }
  return value;
}

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

describe("quoteJsonNumbers", () => {
  it("quotes numbers with their exact source text", () => {
    expect(quoteJsonNumbers('{"amount": 50.005, "a": [1, -2e3]}')).toBe(
      '{"amount": "50.005", "a": ["1", "-2e3"]}',
    );
    expect(JSON.parse(quoteJsonNumbers('{"amount": 50.005}'))).toEqual({ amount: "50.005" });
  });

  it("keeps every digit that JSON.parse would lose", () => {
    const text =
      '{"big": 12345678901234567890123, "small": 0.1000000000000000000001, "e": 1E+400, "neg": -0}';
    expect(JSON.parse(quoteJsonNumbers(text))).toEqual({
      big: "12345678901234567890123",
      small: "0.1000000000000000000001",
      e: "1E+400",
      neg: "-0",
    });
  });

  it("handles every number shape of the grammar", () => {
    for (const n of [
      "0",
      "-0",
      "7",
      "-7",
      "10",
      "0.5",
      "-0.5",
      "1e5",
      "1E5",
      "1e+5",
      "1e-5",
      "1.25E-10",
      "50.00",
    ]) {
      expect(quoteJsonNumbers(n)).toBe(`"${n}"`);
      expect(quoteJsonNumbers(`[${n}]`)).toBe(`["${n}"]`);
      expect(quoteJsonNumbers(`{"k":${n}}`)).toBe(`{"k":"${n}"}`);
    }
  });

  it("leaves numbers inside strings alone, including after escaped quotes and backslashes", () => {
    const cases: Array<[string, unknown]> = [
      ['{"a\\"1": 2}', { 'a"1': "2" }],
      ['["a\\"1", 2]', ['a"1', "2"]],
      ['["\\\\", 3]', ["\\", "3"]],
      ['{"\\\\": 4, "x": "\\\\\\"5"}', { "\\": "4", x: '\\"5' }],
      ['["\\\\\\\\", 6, "7"]', ["\\\\", "6", "7"]],
      ['["\\"", 8]', ['"', "8"]],
      ['["\\u0031\\u00e9", 9]', ["1é", "9"]],
      ['["\\/\\b\\f\\n\\r\\t", 10]', ["/\b\f\n\r\t", "10"]],
      ['["1, 2, 3", "[4]", "{\\"5\\": 6}"]', ["1, 2, 3", "[4]", '{"5": 6}']],
      ['{"€💶": 1.5, "日本": [2, "３"]}', { "€💶": "1.5", 日本: ["2", "３"] }],
      ['["\ud800", 1]', ["\ud800", "1"]],
    ];
    for (const [text, expected] of cases) {
      expect(JSON.parse(quoteJsonNumbers(text)), text).toEqual(expected);
    }
  });

  it("keeps whitespace, literals and structure", () => {
    const text = ' \n\t{ "a" : [ true , false , null , 1 , { } , [ ] ] ,\r\n "b" : -2.5 } \n';
    expect(quoteJsonNumbers(text)).toBe(
      ' \n\t{ "a" : [ true , false , null , "1" , { } , [ ] ] ,\r\n "b" : "-2.5" } \n',
    );
  });

  it("finds a number after any JSON whitespace, and leaves a document without one as it is", () => {
    expect(quoteJsonNumbers('{"a":\t\r\n 1,"b":[\r-2]}')).toBe('{"a":\t\r\n "1","b":[\r"-2"]}');
    expect(quoteJsonNumbers("\t\r\n 0")).toBe('\t\r\n "0"');
    const body = '{"amount":"1.00","to":"acc_1:2,3[4","note":"x: -1"}';
    expect(quoteJsonNumbers(body)).toBe(body);
  });

  it("returns invalid JSON unchanged so JSON.parse still rejects it", () => {
    const invalid = [
      "",
      " ",
      "{1: 2}",
      "{a: 1}",
      "{'a': 1}",
      "[01]",
      "[1.]",
      "[.5]",
      "[+1]",
      "[1e]",
      "[-]",
      "[0x10]",
      "[NaN]",
      "[Infinity]",
      "[1,]",
      "[1 2]",
      '{"a": 1,}',
      '{"a" 1}',
      '{"a": 1 "b": 2}',
      "[1",
      "1]",
      "[1}",
      '{"a": 1]',
      '"abc',
      '"a\\"',
      '"\\x"',
      '"\\u12G4"',
      '"a\nb"',
      "tru",
      "truex",
      "nul",
      "[1] [2]",
      "1 2",
      "\uFEFF1",
      "\u00a01",
      "/* c */ 1",
    ];
    for (const text of invalid) {
      expect(parses(text), text).toBe(false);
      expect(quoteJsonNumbers(text), text).toBe(text);
    }
  });

  it("survives deep nesting without recursion", () => {
    const depth = 100_000;
    const text = `${"[".repeat(depth)}1${"]".repeat(depth)}`;
    expect(quoteJsonNumbers(text)).toBe(`${"[".repeat(depth)}"1"${"]".repeat(depth)}`);
  });

  it("runs in linear time on large input", () => {
    const text = JSON.stringify(
      Array.from({ length: 200_000 }, (_, i) => ({ id: `x"\\${i}`, amount: i / 7 })),
    );
    const start = performance.now();
    const quoted = quoteJsonNumbers(text);
    expect(performance.now() - start).toBeLessThan(5000);
    expect((JSON.parse(quoted) as Array<{ amount: unknown }>)[7]?.amount).toBe(String(1));
  });

  it("property: parsing the quoted text gives the value with numbers as their text", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const expected = numbersToStrings(value);
        expect(JSON.parse(quoteJsonNumbers(JSON.stringify(value)))).toEqual(expected);
        expect(JSON.parse(quoteJsonNumbers(JSON.stringify(value, null, 2)))).toEqual(expected);
      }),
      { numRuns: 1000 },
    );
  });

  it("property: quoting numbers inside strings changes nothing", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (s) => {
        const text = JSON.stringify([s, { [s]: s }]);
        expect(quoteJsonNumbers(text)).toBe(text);
      }),
    );
  });

  it("property: the result parses exactly when the input does", () => {
    const jsonish = fc
      .array(
        fc.constantFrom(
          ...'{}[]",:.-+eE0123456789 \n\\tfrunlsax'.split(""),
          "true",
          "null",
          "false",
          '\\"',
          "\\u00",
        ),
        { maxLength: 30 },
      )
      .map((tokens) => tokens.join(""));
    fc.assert(
      fc.property(fc.oneof(jsonish, fc.json(), fc.string()), (text) => {
        const quoted = quoteJsonNumbers(text);
        expect(parses(quoted)).toBe(parses(text));
        if (!parses(text)) expect(quoted).toBe(text);
      }),
      { numRuns: 5000 },
    );
  });

  it("property: mutations of valid JSON parse after quoting only if they parsed before", () => {
    const mutated = fc
      .tuple(fc.json(), fc.nat(), fc.nat(), fc.string({ maxLength: 3 }))
      .map(([text, at, drop, insert]) => {
        const i = at % (text.length + 1);
        return text.slice(0, i) + insert + text.slice(i + (drop % 3));
      });
    fc.assert(
      fc.property(mutated, (text) => {
        expect(parses(quoteJsonNumbers(text))).toBe(parses(text));
      }),
      { numRuns: 5000 },
    );
  });
});

describe("quoteJsonNumbers with a key filter", () => {
  const onlyAmount = (key: string | null) => key === "amount";

  it("quotes numbers under the chosen keys only", () => {
    const text =
      '{"amount": 50.005, "limit": 5, "nested": {"amount": 1e2, "n": [1, 2]}, "list": [{"amount": 3}], "s": "amount"}';
    expect(JSON.parse(quoteJsonNumbers(text, onlyAmount))).toEqual({
      amount: "50.005",
      limit: 5,
      nested: { amount: "1e2", n: [1, 2] },
      list: [{ amount: "3" }],
      s: "amount",
    });
  });

  it("does not treat array items after a money key as money", () => {
    expect(JSON.parse(quoteJsonNumbers('{"amount": [1, 2], "b": 3}', onlyAmount))).toEqual({
      amount: [1, 2],
      b: 3,
    });
  });

  it("reads escaped keys correctly", () => {
    expect(
      JSON.parse(quoteJsonNumbers(String.raw`{"am\u006funt": 1.10, "x\"amount": 2}`, onlyAmount)),
    ).toEqual({
      amount: "1.10",
      'x"amount': 2,
    });
  });
});
