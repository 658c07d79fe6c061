import { randomBytes } from "node:crypto";

/**
 * Prefixed, time-ordered ids: `pay_` + 10 chars of millisecond time + 16 random chars, Crockford
 * base32, so ids sort by creation time (good index locality, cursor-friendly) and are unguessable.
 * Monotonic within the process: ids made in the same millisecond still sort in creation order.
 */

export type IdPrefix =
  | "usr"
  | "acc"
  | "pay"
  | "re"
  | "tx"
  | "evt"
  | "we"
  | "key"
  | "le"
  | "rt"
  | "op"
  | "whd"
  | "aud"
  | "po";

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** The last id's time, its text, and its 16 random base32 digits (kept to increment). */
let lastTime = 0;
let lastTimeText = "";
const digits = new Uint8Array(16);

function encodeTime(ms: number): string {
  let out = "";
  let t = ms;
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[t % 32] + out;
    t = Math.floor(t / 32);
  }
  return out;
}

/** Increments the random part, so same-millisecond ids stay ordered (wrapping to zeros). */
function increment(): void {
  for (let i = 15; i >= 0; i--) {
    if (digits[i]! < 31) {
      digits[i]! += 1;
      return;
    }
    digits[i] = 0;
  }
}

export function newId(prefix: IdPrefix): string {
  const now = Math.max(Date.now(), lastTime);
  if (now === lastTime) {
    increment();
  } else {
    const bytes = randomBytes(16);
    for (let i = 0; i < 16; i++) digits[i] = bytes[i]! % 32;
    lastTime = now;
    lastTimeText = encodeTime(now);
  }
  let id = `${prefix}_${lastTimeText}`;
  for (let i = 0; i < 16; i++) id += ALPHABET[digits[i]!];
  return id;
}

/** A random account number, `ACC_` + 16 base32 chars. Not time-ordered: nothing to learn from it. */
export function newAccountNumber(): string {
  return `ACC_${[...randomBytes(16)].map((b) => ALPHABET[b % 32]).join("")}`;
}
