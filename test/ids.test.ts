import { describe, expect, it, vi } from "vitest";
import { newAccountNumber, newId } from "../shared/ids.ts";

const BASE32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** The millisecond time an id carries in its first 10 characters after the prefix. */
function timeOf(id: string): number {
  const text = id.slice(id.indexOf("_") + 1, id.indexOf("_") + 11);
  return [...text].reduce((t, c) => t * 32 + BASE32.indexOf(c), 0);
}

describe("newId", () => {
  it("is the prefix, 10 base32 characters of millisecond time and 16 random ones", () => {
    const before = Date.now();
    const id = newId("pay");
    expect(id).toMatch(/^pay_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(timeOf(id)).toBeGreaterThanOrEqual(before);
    expect(timeOf(id)).toBeLessThanOrEqual(Date.now());
  });

  it("sorts in creation order, also many ids within one millisecond, and never repeats", () => {
    const ids = Array.from({ length: 20_000 }, () => newId("evt"));
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });

  it("increments the random part within a millisecond and draws a new one in the next", () => {
    vi.useFakeTimers({ now: new Date("2030-01-01T00:00:00.000Z"), toFake: ["Date"] });
    try {
      const a = newId("tx");
      const b = newId("tx");
      expect(timeOf(a)).toBe(timeOf(b));
      // Same millisecond: b is a plus one in base32 (the last digit, carrying over).
      const asNumber = (id: string) =>
        [...id.slice(-16)].reduce((n, c) => n * 32n + BigInt(BASE32.indexOf(c)), 0n);
      expect(asNumber(b) - asNumber(a)).toBe(1n);
      vi.setSystemTime(new Date("2030-01-01T00:00:00.001Z"));
      const randoms = new Set<string>();
      for (let ms = 2; ms < 50; ms++) {
        vi.setSystemTime(new Date(Date.UTC(2030, 0, 1, 0, 0, 0, ms)));
        const id = newId("tx");
        expect(timeOf(id)).toBe(Date.UTC(2030, 0, 1, 0, 0, 0, ms));
        randoms.add(id.slice(-16));
      }
      expect(randoms.size).toBe(48);
      // A clock that goes back never makes an id that sorts before the last one.
      const last = newId("tx");
      vi.setSystemTime(new Date("2030-01-01T00:00:00.000Z"));
      expect(newId("tx") > last).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("newAccountNumber", () => {
  it("is ACC_ and 16 base32 characters, not time-ordered", () => {
    const numbers = Array.from({ length: 1000 }, () => newAccountNumber());
    for (const n of numbers) expect(n).toMatch(/^ACC_[0-9A-HJKMNP-TV-Z]{16}$/);
    expect(new Set(numbers).size).toBe(1000);
    expect([...numbers].sort()).not.toEqual(numbers);
  });
});
