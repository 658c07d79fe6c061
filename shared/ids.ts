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

let lastTime = 0;
let lastRandom: number[] = [];

function encodeTime(ms: number): string {
  let out = "";
  let t = ms;
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[t % 32] + out;
    t = Math.floor(t / 32);
  }
  return out;
}

function nextRandom(now: number): number[] {
  if (now === lastTime && lastRandom.length === 16) {
    // Increment the previous random part so same-millisecond ids stay ordered.
    const next = [...lastRandom];
    for (let i = 15; i >= 0; i--) {
      const digit = (next[i] ?? 0) + 1;
      if (digit < 32) {
        next[i] = digit;
        return next;
      }
      next[i] = 0;
    }
    return next;
  }
  return [...randomBytes(16)].map((b) => b % 32);
}

export function newId(prefix: IdPrefix): string {
  const now = Math.max(Date.now(), lastTime);
  const random = nextRandom(now);
  lastTime = now;
  lastRandom = random;
  return `${prefix}_${encodeTime(now)}${random.map((d) => ALPHABET[d]).join("")}`;
}

/** A random account number, `ACC_` + 16 base32 chars. Not time-ordered: nothing to learn from it. */
export function newAccountNumber(): string {
  return `ACC_${[...randomBytes(16)].map((b) => ALPHABET[b % 32]).join("")}`;
}
