import { ValidationError } from "../errors.ts";
import type { PayoutDestination } from "./types.ts";

/**
 * Bank account destinations: an IBAN (ISO 13616, checked with its mod-97 check digits) or a US
 * routing number (ABA, checked with its 3-7-1 checksum) plus an account number (4 to 17 digits).
 * Stored normalized (no spaces, upper case); shown masked.
 */

/** Input as the API receives it (already shape-checked by the route's schema). */
export interface DestinationInput {
  type: "bank_account";
  account_holder: string;
  iban?: string | null | undefined;
  routing_number?: string | null | undefined;
  account_number?: string | null | undefined;
}

/** True when `iban` (spaces removed, upper case) has a valid country, length and mod-97 check. */
export function isValidIban(iban: string): boolean {
  if (!/^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$/.test(iban)) return false;
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let remainder = 0;
  for (const ch of rearranged) {
    const value = ch >= "A" ? ch.charCodeAt(0) - 55 : Number(ch);
    remainder = (remainder * (value >= 10 ? 100 : 10) + value) % 97;
  }
  return remainder === 1;
}

/** True for a 9-digit ABA routing number whose weighted (3, 7, 1) digit sum is a multiple of 10. */
export function isValidRoutingNumber(routing: string): boolean {
  if (!/^[0-9]{9}$/.test(routing)) return false;
  const weights = [3, 7, 1, 3, 7, 1, 3, 7, 1];
  const sum = [...routing].reduce((acc, d, i) => acc + Number(d) * weights[i]!, 0);
  return sum % 10 === 0;
}

const bad = (field: string, detail: string) =>
  ValidationError.field(`/destination/${field}`, detail, "invalid_destination");

/** Validates and normalizes a destination; 422 `invalid_destination` with a pointer otherwise. */
export function parseDestination(input: DestinationInput): PayoutDestination {
  const account_holder = input.account_holder.trim();
  if (account_holder === "") throw bad("account_holder", "The account holder's name is required.");
  const hasIban = input.iban !== undefined && input.iban !== null;
  const hasUs =
    (input.routing_number !== undefined && input.routing_number !== null) ||
    (input.account_number !== undefined && input.account_number !== null);
  if (hasIban === hasUs) {
    throw bad("iban", "Give either an iban, or a routing_number and an account_number.");
  }
  if (hasIban) {
    const iban = String(input.iban).replace(/\s+/g, "").toUpperCase();
    if (!isValidIban(iban)) throw bad("iban", "This is not a valid IBAN (country, length or check digits).");
    return { type: "bank_account", account_holder, iban };
  }
  const routing = String(input.routing_number ?? "").trim();
  const account = String(input.account_number ?? "").trim();
  if (!isValidRoutingNumber(routing)) {
    throw bad("routing_number", "This is not a valid US routing number (9 digits, ABA checksum).");
  }
  if (!/^[0-9]{4,17}$/.test(account))
    throw bad("account_number", "The account number must be 4 to 17 digits.");
  return { type: "bank_account", account_holder, routing_number: routing, account_number: account };
}

/** What responses show: the holder, the country or bank, and the last four digits. */
export function maskedDestination(d: PayoutDestination) {
  if ("iban" in d) {
    return {
      type: d.type,
      account_holder: d.account_holder,
      country: d.iban.slice(0, 2),
      routing_number: null,
      last4: d.iban.slice(-4),
    };
  }
  return {
    type: d.type,
    account_holder: d.account_holder,
    country: "US",
    routing_number: d.routing_number,
    last4: d.account_number.slice(-4),
  };
}
