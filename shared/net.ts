import { isIPv4, isIPv6 } from "node:net";

/** Strict dotted-quad to its four octets; null for anything else. */
export function parseIPv4(ip: string): number[] | null {
  if (!isIPv4(ip)) return null;
  return ip.split(".").map(Number);
}

/**
 * Any valid IPv6 text (`::` shorthand, a dotted IPv4 tail, a `%zone`) expanded to its eight
 * 16-bit groups; null when it is not IPv6.
 */
export function expandIPv6(ip: string): number[] | null {
  let text = ip.split("%")[0] ?? "";
  if (!isIPv6(text)) return null;
  if (text.includes(".")) {
    const cut = text.lastIndexOf(":");
    const v4 = parseIPv4(text.slice(cut + 1));
    if (!v4) return null;
    const hi = (((v4[0] ?? 0) << 8) | (v4[1] ?? 0)).toString(16);
    const lo = (((v4[2] ?? 0) << 8) | (v4[3] ?? 0)).toString(16);
    text = `${text.slice(0, cut + 1)}${hi}:${lo}`;
  }
  const groups = (part: string): number[] => (part === "" ? [] : part.split(":").map((h) => parseInt(h, 16)));
  const halves = text.split("::");
  let words: number[];
  if (halves.length === 2) {
    const head = groups(halves[0] ?? "");
    const tail = groups(halves[1] ?? "");
    words = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    words = groups(text);
  }
  if (words.length !== 8 || words.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffff)) return null;
  return words;
}
