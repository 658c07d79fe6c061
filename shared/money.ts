/**
 * The one place that turns money text into integer minor units and back. Amounts are bigint minor
 * units everywhere else; parsing works on the digit string so no float ever touches an amount.
 */
import { ValidationError } from "./errors.ts";

/**
 * ISO 4217 List One: active alpha-3 code -> minor-unit exponent. Fund codes (BOV, CHE, CHW, CLF,
 * COU, MXV, USN, UYI, UYW), precious metals, SDR/units of account (XDR, XSU, XUA, XBA..XBD), test and
 * "no currency" codes (XTS, XXX), and withdrawn codes (ANG, CUC, HRK, SLL, ZWL) are left out on
 * purpose: no account can hold them.
 */
export const CURRENCIES: Readonly<Record<string, number>> = Object.freeze({
  AED: 2,
  AFN: 2,
  ALL: 2,
  AMD: 2,
  AOA: 2,
  ARS: 2,
  AUD: 2,
  AWG: 2,
  AZN: 2,
  BAM: 2,
  BBD: 2,
  BDT: 2,
  BGN: 2,
  BHD: 3,
  BIF: 0,
  BMD: 2,
  BND: 2,
  BOB: 2,
  BRL: 2,
  BSD: 2,
  BTN: 2,
  BWP: 2,
  BYN: 2,
  BZD: 2,
  CAD: 2,
  CDF: 2,
  CHF: 2,
  CLP: 0,
  CNY: 2,
  COP: 2,
  CRC: 2,
  CUP: 2,
  CVE: 2,
  CZK: 2,
  DJF: 0,
  DKK: 2,
  DOP: 2,
  DZD: 2,
  EGP: 2,
  ERN: 2,
  ETB: 2,
  EUR: 2,
  FJD: 2,
  FKP: 2,
  GBP: 2,
  GEL: 2,
  GHS: 2,
  GIP: 2,
  GMD: 2,
  GNF: 0,
  GTQ: 2,
  GYD: 2,
  HKD: 2,
  HNL: 2,
  HTG: 2,
  HUF: 2,
  IDR: 2,
  ILS: 2,
  INR: 2,
  IQD: 3,
  IRR: 2,
  ISK: 0,
  JMD: 2,
  JOD: 3,
  JPY: 0,
  KES: 2,
  KGS: 2,
  KHR: 2,
  KMF: 0,
  KPW: 2,
  KRW: 0,
  KWD: 3,
  KYD: 2,
  KZT: 2,
  LAK: 2,
  LBP: 2,
  LKR: 2,
  LRD: 2,
  LSL: 2,
  LYD: 3,
  MAD: 2,
  MDL: 2,
  MGA: 2,
  MKD: 2,
  MMK: 2,
  MNT: 2,
  MOP: 2,
  MRU: 2,
  MUR: 2,
  MVR: 2,
  MWK: 2,
  MXN: 2,
  MYR: 2,
  MZN: 2,
  NAD: 2,
  NGN: 2,
  NIO: 2,
  NOK: 2,
  NPR: 2,
  NZD: 2,
  OMR: 3,
  PAB: 2,
  PEN: 2,
  PGK: 2,
  PHP: 2,
  PKR: 2,
  PLN: 2,
  PYG: 0,
  QAR: 2,
  RON: 2,
  RSD: 2,
  RUB: 2,
  RWF: 0,
  SAR: 2,
  SBD: 2,
  SCR: 2,
  SDG: 2,
  SEK: 2,
  SGD: 2,
  SHP: 2,
  SLE: 2,
  SOS: 2,
  SRD: 2,
  SSP: 2,
  STN: 2,
  SVC: 2,
  SYP: 2,
  SZL: 2,
  THB: 2,
  TJS: 2,
  TMT: 2,
  TND: 3,
  TOP: 2,
  TRY: 2,
  TTD: 2,
  TWD: 2,
  TZS: 2,
  UAH: 2,
  UGX: 0,
  USD: 2,
  UYU: 2,
  UZS: 2,
  VED: 2,
  VES: 2,
  VND: 0,
  VUV: 0,
  WST: 2,
  XAF: 0,
  XCD: 2,
  XCG: 2,
  XOF: 0,
  XPF: 0,
  YER: 2,
  ZAR: 2,
  ZMW: 2,
  ZWG: 2,
});

/** Keeps amounts well inside NUMERIC(20, x) columns and far from any float-ish client limits. */
export const MAX_MINOR_UNITS = 10n ** 14n - 1n;

const MAX_MINOR_DIGITS = 14;

/** Own-property lookup so "constructor" and friends never count as currencies. */
export function isCurrency(code: string): boolean {
  return Object.hasOwn(CURRENCIES, code);
}

export function currencyExponent(code: string): number {
  const exponent = Object.hasOwn(CURRENCIES, code) ? CURRENCIES[code] : undefined;
  if (exponent === undefined) {
    throw ValidationError.field("/currency", unsupportedCurrencyDetail(code), "unsupported_currency");
  }
  return exponent;
}

/** Strict on purpose: "usd" is rejected rather than guessed at, so stored codes are canonical. */
export function parseCurrency(input: unknown, pointer = "/currency"): string {
  if (typeof input !== "string" || !/^[A-Z]{3}$/.test(input) || !isCurrency(input)) {
    throw ValidationError.field(pointer, unsupportedCurrencyDetail(input), "unsupported_currency");
  }
  return input;
}

function unsupportedCurrencyDetail(input: unknown): string {
  const shown = typeof input === "string" && input.length <= 16 ? ` "${input}"` : "";
  return `Currency${shown} is not supported; use an upper-case ISO 4217 code such as "USD".`;
}

/**
 * Exactly the JSON number grammar (RFC 8259 section 6). Strings use it too, so a JSON number that
 * reached us as its source text (see json-exact.ts) and a quoted amount are judged alike: no "+",
 * no leading zeros ("007.50"), no bare dot (".5", "5."), no whitespace, hex, commas or NaN/Infinity.
 */
const NUMBER_TEXT = /^(-?)(0|[1-9][0-9]*)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?$/;

/**
 * Decimal text or JSON number in major units -> bigint minor units. The number of decimals is
 * judged as written ("50.100" USD is rejected even though it equals 50.10), because a client that
 * sends three decimals for a two-decimal currency has a bug we should surface, not round away.
 */
export function parseAmount(input: unknown, currency: string, pointer = "/amount"): bigint {
  const exponent = currencyExponent(currency);
  const invalid = (): ValidationError =>
    ValidationError.field(
      pointer,
      `Amount must be a decimal string in major units such as "50.00" (or a JSON number).`,
      "amount_invalid",
    );

  let text: string;
  if (typeof input === "string") {
    text = input;
  } else if (typeof input === "number") {
    if (!Number.isFinite(input)) throw invalid();
    // Shortest round-trip text: exactly the digits the sender's JSON most likely carried.
    text = String(input);
  } else {
    throw invalid();
  }

  const match = NUMBER_TEXT.exec(text);
  if (match === null) throw invalid();
  const [, sign = "", intPart = "", fracPart = "", expPart = "0"] = match;

  const significant = (intPart + fracPart).replace(/^0+/, "");
  if (sign === "-" || significant === "") {
    throw ValidationError.field(pointer, "Amount must be greater than zero.", "amount_not_positive");
  }

  // Digit counts only, never money: Number is exact for any length a string can have, and an absurd
  // exponent becomes +-Infinity, which the comparisons below still decide correctly.
  const scale = fracPart.length - Number(expPart);
  const shift = exponent - scale;
  if (shift < 0) {
    const allowed = exponent === 0 ? "no decimal places" : `at most ${exponent} decimal places`;
    throw ValidationError.field(
      pointer,
      `Amount has more decimal places than ${currency} allows (${allowed}).`,
      "amount_invalid_precision",
    );
  }
  if (significant.length + shift > MAX_MINOR_DIGITS) {
    throw ValidationError.field(
      pointer,
      `Amount must be less than ${formatAmount(MAX_MINOR_UNITS + 1n, currency)} ${currency}.`,
      "amount_too_large",
    );
  }
  return BigInt(significant) * 10n ** BigInt(shift);
}

/** Always exactly `exponent` decimals and never exponent notation, so the text parses back exactly. */
export function formatAmount(minor: bigint, currency: string): string {
  const exponent = currencyExponent(currency);
  const sign = minor < 0n ? "-" : "";
  const digits = (minor < 0n ? -minor : minor).toString();
  if (exponent === 0) return sign + digits;
  const padded = digits.padStart(exponent + 1, "0");
  return `${sign}${padded.slice(0, -exponent)}.${padded.slice(-exponent)}`;
}
