import { createHash } from "node:crypto";
import { hash, verify } from "@node-rs/bcrypt";

export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 128;

/**
 * bcrypt reads only the first 72 bytes of its input, so two long passwords sharing a prefix would
 * verify alike. Every password is therefore pre-hashed to a fixed 44-byte base64 SHA-256 digest
 * (no NUL bytes, well under 72) before bcrypt: the whole password always counts.
 */
function prehash(password: string): string {
  return createHash("sha256").update(password, "utf8").digest("base64");
}

export async function hashPassword(password: string, cost: number): Promise<string> {
  return hash(prehash(password), { cost });
}

export async function verifyPassword(password: string, passwordHash: string): Promise<boolean> {
  try {
    return await verify(prehash(password), passwordHash);
  } catch {
    return false;
  }
}

/** A hash of a random password at the configured cost: compared against for unknown emails, so
 * an unknown email costs the same time as a wrong password. */
let dummy: Promise<string> | null = null;
export function dummyHash(cost: number): Promise<string> {
  dummy ??= hashPassword(`dummy-${Math.random()}`, cost);
  return dummy;
}
