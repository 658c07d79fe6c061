import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ValidationError } from "../shared/errors.ts";
import {
  CURRENCIES,
  currencyExponent,
  formatAmount,
  isCurrency,
  MAX_MINOR_UNITS,
  parseAmount,
  parseCurrency,
} from "../shared/money.ts";

const CODES = Object.keys(CURRENCIES);

/** Runs `fn` and returns the ValidationError it must throw. */
function rejection(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return err as ValidationError;
  }
  throw new Error("expected a ValidationError, nothing was thrown");
}

function expectRejected(fn: () => unknown, code: string, pointer: string): void {
  const err = rejection(fn);
  expect(err.code).toBe(code);
  expect(err.status).toBe(422);
  expect(err.errors).toHaveLength(1);
  expect(err.errors[0]?.pointer).toBe(pointer);
  expect(err.errors[0]?.detail.length).toBeGreaterThan(10);
}

describe("CURRENCIES", () => {
  it("has the required codes with their exponents", () => {
    const required: Record<string, number> = {
      USD: 2,
      EUR: 2,
      GBP: 2,
      JPY: 0,
      KRW: 0,
      CHF: 2,
      CAD: 2,
      AUD: 2,
      NZD: 2,
      SEK: 2,
      NOK: 2,
      DKK: 2,
      PLN: 2,
      CZK: 2,
      HUF: 2,
      INR: 2,
      CNY: 2,
      HKD: 2,
      SGD: 2,
      MXN: 2,
      BRL: 2,
      ZAR: 2,
      TRY: 2,
      ILS: 2,
      AED: 2,
      SAR: 2,
      KWD: 3,
      BHD: 3,
      OMR: 3,
      JOD: 3,
      TND: 3,
      LYD: 3,
      IQD: 3,
      CLP: 0,
      ISK: 0,
      VND: 0,
      XOF: 0,
      XAF: 0,
      UGX: 0,
      PYG: 0,
      KMF: 0,
    };
    for (const [code, exponent] of Object.entries(required)) {
      expect(CURRENCIES[code], code).toBe(exponent);
      expect(currencyExponent(code)).toBe(exponent);
    }
    expect(CODES.length).toBeGreaterThanOrEqual(150);
  });

  it("holds only upper-case alpha-3 codes with exponent 0, 2 or 3", () => {
    for (const code of CODES) {
      expect(code).toMatch(/^[A-Z]{3}$/);
      expect([0, 2, 3]).toContain(CURRENCIES[code]);
    }
  });

  it("leaves out funds, metals, test and withdrawn codes", () => {
    for (const code of ["XAU", "XAG", "XPT", "XPD", "XTS", "XXX", "XDR", "CLF", "USN", "HRK", "ZWL"]) {
      expect(isCurrency(code), code).toBe(false);
    }
  });

  it("is frozen", () => {
    expect(Object.isFrozen(CURRENCIES)).toBe(true);
  });
});

describe("isCurrency / currencyExponent", () => {
  it("is case-sensitive and ignores prototype keys", () => {
    expect(isCurrency("USD")).toBe(true);
    expect(isCurrency("usd")).toBe(false);
    expect(isCurrency("constructor")).toBe(false);
    expect(isCurrency("__proto__")).toBe(false);
    expect(isCurrency("")).toBe(false);
  });

  it("throws unsupported_currency for unknown codes", () => {
    for (const code of ["usd", "Usd", "XYZ", "US", "USDD", "toString", "XAU"]) {
      expectRejected(() => currencyExponent(code), "unsupported_currency", "/currency");
    }
  });
});

describe("parseCurrency", () => {
  it("accepts every known code as-is", () => {
    for (const code of CODES) expect(parseCurrency(code)).toBe(code);
  });

  it("rejects lower case, unknown codes and non-strings with the pointer", () => {
    const bad: unknown[] = [
      "usd",
      "eur",
      " USD",
      "USD ",
      "US",
      "XYZ",
      "XXX",
      "",
      840,
      null,
      undefined,
      {},
      ["USD"],
    ];
    for (const input of bad) {
      expectRejected(() => parseCurrency(input), "unsupported_currency", "/currency");
      expectRejected(
        () => parseCurrency(input, "/data/0/currency"),
        "unsupported_currency",
        "/data/0/currency",
      );
    }
  });
});

describe("formatAmount", () => {
  it("always writes exactly `exponent` decimals", () => {
    expect(formatAmount(5000n, "USD")).toBe("50.00");
    expect(formatAmount(1n, "USD")).toBe("0.01");
    expect(formatAmount(0n, "USD")).toBe("0.00");
    expect(formatAmount(1000n, "JPY")).toBe("1000");
    expect(formatAmount(0n, "JPY")).toBe("0");
    expect(formatAmount(5n, "KWD")).toBe("0.005");
    expect(formatAmount(1234567n, "KWD")).toBe("1234.567");
    expect(formatAmount(MAX_MINOR_UNITS, "USD")).toBe("999999999999.99");
  });

  it("writes negative balances with a leading minus", () => {
    expect(formatAmount(-5000n, "USD")).toBe("-50.00");
    expect(formatAmount(-1n, "USD")).toBe("-0.01");
    expect(formatAmount(-7n, "JPY")).toBe("-7");
    expect(formatAmount(-5n, "KWD")).toBe("-0.005");
  });

  it("never uses exponent notation, even far beyond the amount limit", () => {
    expect(formatAmount(10n ** 30n, "USD")).toBe(`1${"0".repeat(28)}.00`);
    expect(formatAmount(10n ** 30n, "JPY")).toBe(`1${"0".repeat(30)}`);
  });

  it("rejects unknown currencies", () => {
    expectRejected(() => formatAmount(1n, "usd"), "unsupported_currency", "/currency");
  });
});

describe("parseAmount round trips", () => {
  /** A hand-written amount of 1234 minor units for each exponent. */
  const handWritten: Record<number, string> = { 0: "1234", 2: "12.34", 3: "1.234" };

  it.each(CODES)("%s: format then parse, and a hand-written amount", (code) => {
    const exponent = currencyExponent(code);
    for (const minor of [1n, 7n, 10n, 100n, 1234n, 5000n, 123456789n, MAX_MINOR_UNITS]) {
      expect(parseAmount(formatAmount(minor, code), code)).toBe(minor);
    }
    const text = handWritten[exponent];
    expect(text, `no hand-written case for exponent ${exponent}`).toBeDefined();
    expect(parseAmount(text, code)).toBe(1234n);
    expect(parseAmount("1", code)).toBe(10n ** BigInt(exponent));
  });

  it("parses the usual shapes", () => {
    expect(parseAmount("50.00", "USD")).toBe(5000n);
    expect(parseAmount("50", "USD")).toBe(5000n);
    expect(parseAmount("50.5", "USD")).toBe(5050n);
    expect(parseAmount("50.10", "USD")).toBe(5010n);
    expect(parseAmount("0.01", "USD")).toBe(1n);
    expect(parseAmount("0.5", "USD")).toBe(50n);
    expect(parseAmount("1000", "JPY")).toBe(1000n);
    expect(parseAmount("0.005", "KWD")).toBe(5n);
    expect(parseAmount("1.5", "KWD")).toBe(1500n);
  });

  it("checks the pointer is used for every error", () => {
    expectRejected(() => parseAmount("abc", "USD", "/capture/amount"), "amount_invalid", "/capture/amount");
  });
});

describe("parseAmount rejections", () => {
  it.each([
    [""],
    [" "],
    [" 50"],
    ["50 "],
    ["\t50"],
    ["50\n"],
    ["+5"],
    ["1,000"],
    ["1 000"],
    ["1_000"],
    ["0x10"],
    ["0b1"],
    ["NaN"],
    ["Infinity"],
    ["-Infinity"],
    ["abc"],
    ["50.00 USD"],
    ["$50"],
    [".5"],
    ["5."],
    ["-.5"],
    ["1..5"],
    ["1.2.3"],
    ["--5"],
    ["-"],
    ["e5"],
    ["1e"],
    ["1e+"],
    ["５０"],
    ["٥٠"],
    ["007.50"],
    ["00"],
    ["01"],
  ])("string %j is amount_invalid", (input) => {
    expectRejected(() => parseAmount(input, "USD"), "amount_invalid", "/amount");
  });

  it.each([
    [true],
    [false],
    [null],
    [undefined],
    [{}],
    [{ amount: "5" }],
    [["5"]],
    [5n],
    [Number.NaN],
    [Number.POSITIVE_INFINITY],
    [Number.NEGATIVE_INFINITY],
  ])("%s is amount_invalid", (input) => {
    expectRejected(() => parseAmount(input, "USD"), "amount_invalid", "/amount");
  });

  it.each([["0"], ["0.00"], ["0.0"], ["-0"], ["-0.00"], ["-5"], ["-50.00"], ["-0.01"], ["0e5"], ["-1e2"]])(
    "string %j is amount_not_positive",
    (input) => {
      expectRejected(() => parseAmount(input, "USD"), "amount_not_positive", "/amount");
    },
  );

  it.each([[0], [-0], [-1], [-0.01], [-1e30]])("number %d is amount_not_positive", (input) => {
    expectRejected(() => parseAmount(input, "USD"), "amount_not_positive", "/amount");
  });

  it.each([
    ["50.005", "USD"],
    ["50.100", "USD"],
    ["0.001", "USD"],
    ["1.000", "EUR"],
    ["50.0", "JPY"],
    ["50.00", "JPY"],
    ["1.0001", "KWD"],
    ["0.0005", "KWD"],
    ["1.5", "CLP"],
  ])("%j %s is amount_invalid_precision", (input, currency) => {
    expectRejected(() => parseAmount(input, currency), "amount_invalid_precision", "/amount");
  });

  it("judges the currency before the amount", () => {
    expectRejected(() => parseAmount("50.00", "usd"), "unsupported_currency", "/currency");
    expectRejected(() => parseAmount("abc", "XXX"), "unsupported_currency", "/currency");
  });

  it("says what went wrong in the detail", () => {
    expect(rejection(() => parseAmount("50.005", "USD")).errors[0]?.detail).toContain("USD");
    expect(rejection(() => parseAmount("5.5", "JPY")).errors[0]?.detail).toContain("no decimal places");
    expect(rejection(() => parseAmount("1e14", "JPY")).errors[0]?.detail).toContain("100000000000000 JPY");
  });
});

describe("parseAmount with JSON numbers", () => {
  it("reads numbers from their shortest round-trip text", () => {
    expect(parseAmount(50, "USD")).toBe(5000n);
    expect(parseAmount(12.5, "USD")).toBe(1250n);
    expect(parseAmount(0.1, "USD")).toBe(10n);
    expect(parseAmount(0.01, "USD")).toBe(1n);
    expect(parseAmount(1e2, "USD")).toBe(10000n);
    expect(parseAmount(19.99, "USD")).toBe(1999n);
    expect(parseAmount(0.3, "USD")).toBe(30n);
    expect(parseAmount(1000, "JPY")).toBe(1000n);
    expect(parseAmount(0.005, "KWD")).toBe(5n);
  });

  it("rejects numbers with too many decimals", () => {
    expectRejected(() => parseAmount(0.001, "USD"), "amount_invalid_precision", "/amount");
    expectRejected(() => parseAmount(1e-7, "USD"), "amount_invalid_precision", "/amount");
    expectRejected(() => parseAmount(0.1 + 0.2, "USD"), "amount_invalid_precision", "/amount");
    expectRejected(() => parseAmount(5e-324, "KWD"), "amount_invalid_precision", "/amount");
    expectRejected(() => parseAmount(1.5, "JPY"), "amount_invalid_precision", "/amount");
  });

  it("rejects numbers that are too large, including exponent forms", () => {
    expectRejected(() => parseAmount(1e21, "USD"), "amount_too_large", "/amount");
    expectRejected(() => parseAmount(1e12, "USD"), "amount_too_large", "/amount");
    expectRejected(() => parseAmount(Number.MAX_VALUE, "USD"), "amount_too_large", "/amount");
    expect(parseAmount(999999999999.99, "USD")).toBe(MAX_MINOR_UNITS);
  });

  it("accepts exponent text (a JSON number quoted by quoteJsonNumbers) when it denotes a valid amount", () => {
    expect(parseAmount("1e2", "USD")).toBe(10000n);
    expect(parseAmount("1E2", "USD")).toBe(10000n);
    expect(parseAmount("1.5e+1", "USD")).toBe(1500n);
    expect(parseAmount("5e-1", "USD")).toBe(50n);
    expect(parseAmount("1e-2", "USD")).toBe(1n);
    expect(parseAmount("0.001e3", "USD")).toBe(100n);
    expect(parseAmount("1e-3", "KWD")).toBe(1n);
    expectRejected(() => parseAmount("1e-3", "USD"), "amount_invalid_precision", "/amount");
    expectRejected(() => parseAmount("1e-1", "JPY"), "amount_invalid_precision", "/amount");
  });

  it("decides absurd exponents without building huge numbers", () => {
    expectRejected(() => parseAmount("1e999999999999", "USD"), "amount_too_large", "/amount");
    expectRejected(() => parseAmount(`1e${"9".repeat(400)}`, "USD"), "amount_too_large", "/amount");
    expectRejected(() => parseAmount("1e-999999999999", "USD"), "amount_invalid_precision", "/amount");
    expectRejected(() => parseAmount(`1e-${"9".repeat(400)}`, "USD"), "amount_invalid_precision", "/amount");
    expectRejected(() => parseAmount("9".repeat(100000), "USD"), "amount_too_large", "/amount");
  });
});

describe("the 10^14 minor-unit limit", () => {
  it.each([
    ["USD", "999999999999.99", "1000000000000.00", "1000000000000"],
    ["JPY", "99999999999999", "100000000000000", "1e14"],
    ["KWD", "99999999999.999", "100000000000.000", "100000000000"],
  ])("%s", (currency, largest, tooLarge, tooLargeShort) => {
    expect(formatAmount(MAX_MINOR_UNITS, currency)).toBe(largest);
    expect(parseAmount(largest, currency)).toBe(99999999999999n);
    expect(parseAmount(formatAmount(MAX_MINOR_UNITS, currency), currency)).toBe(MAX_MINOR_UNITS);
    expect(formatAmount(MAX_MINOR_UNITS + 1n, currency)).toBe(tooLarge);
    for (const text of [tooLarge, tooLargeShort, formatAmount(10n ** 20n, currency)]) {
      expectRejected(() => parseAmount(text, currency), "amount_too_large", "/amount");
    }
  });

  it("is 10^14 - 1", () => {
    expect(MAX_MINOR_UNITS).toBe(99999999999999n);
  });
});

describe("properties", () => {
  const currency = fc.constantFrom(...CODES);

  it("parseAmount(formatAmount(x, c), c) === x for every valid amount", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: MAX_MINOR_UNITS }), currency, (minor, code) => {
        const text = formatAmount(minor, code);
        expect(text).not.toMatch(/[eE]/);
        expect(text).toMatch(/^[0-9]+(\.[0-9]+)?$/);
        expect(parseAmount(text, code)).toBe(minor);
      }),
      { numRuns: 2000 },
    );
  });

  it("formatAmount never produces exponent notation and has exactly `exponent` decimals", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }), currency, (minor, code) => {
        const text = formatAmount(minor, code);
        const exponent = currencyExponent(code);
        const pattern = exponent === 0 ? /^-?[0-9]+$/ : new RegExp(`^-?[0-9]+\\.[0-9]{${exponent}}$`);
        expect(text).toMatch(pattern);
      }),
    );
  });

  it("parses every positive JS number exactly as its decimal text says, or rejects it", () => {
    fc.assert(
      fc.property(
        fc.double({ min: Number.MIN_VALUE, noNaN: true, noDefaultInfinity: true }),
        currency,
        (n, code) => {
          let minor: bigint;
          try {
            minor = parseAmount(n, code);
          } catch (err) {
            expect(err).toBeInstanceOf(ValidationError);
            expect(["amount_invalid_precision", "amount_too_large"]).toContain((err as ValidationError).code);
            return;
          }
          expect(minor).toBeGreaterThan(0n);
          expect(minor).toBeLessThanOrEqual(MAX_MINOR_UNITS);
          // The formatted amount is the same number the client sent.
          expect(Number(formatAmount(minor, code))).toBe(n);
        },
      ),
    );
  });

  it("never throws anything but a ValidationError on arbitrary input", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.anything()), currency, (input, code) => {
        try {
          const minor = parseAmount(input, code);
          expect(minor).toBeGreaterThan(0n);
          expect(minor).toBeLessThanOrEqual(MAX_MINOR_UNITS);
        } catch (err) {
          expect(err).toBeInstanceOf(ValidationError);
        }
      }),
    );
  });
});
