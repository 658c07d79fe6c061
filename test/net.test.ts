import { describe, expect, it } from "vitest";
import { expandIPv6, parseIPv4 } from "../shared/net.ts";

describe("expandIPv6", () => {
  it.each([
    ["::", [0, 0, 0, 0, 0, 0, 0, 0]],
    ["::1", [0, 0, 0, 0, 0, 0, 0, 1]],
    ["1::", [1, 0, 0, 0, 0, 0, 0, 0]],
    ["::ffff:1.2.3.4", [0, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304]],
    ["64:ff9b::192.0.2.33", [0x64, 0xff9b, 0, 0, 0, 0, 0xc000, 0x0221]],
    ["2001:0db8:0000:0000:0000:ff00:0042:8329", [0x2001, 0xdb8, 0, 0, 0, 0xff00, 0x42, 0x8329]],
    ["2001:DB8:7:1:0:0:0:FFFF", [0x2001, 0xdb8, 7, 1, 0, 0, 0, 0xffff]],
    ["2001:db8:7:1::abcd", [0x2001, 0xdb8, 7, 1, 0, 0, 0, 0xabcd]],
    ["fe80::1%eth0", [0xfe80, 0, 0, 0, 0, 0, 0, 1]],
  ])("%s", (text, groups) => {
    expect(expandIPv6(text)).toEqual(groups);
  });

  it.each([
    "",
    "1.2.3.4",
    "::g",
    "1::2::3",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7",
    "12345::",
    "::1.2.3",
    "unknown",
  ])("%j is not IPv6", (text) => {
    expect(expandIPv6(text)).toBeNull();
  });
});

describe("parseIPv4", () => {
  it("reads a dotted quad and nothing else", () => {
    expect(parseIPv4("192.0.2.33")).toEqual([192, 0, 2, 33]);
    expect(parseIPv4("256.0.0.1")).toBeNull();
    expect(parseIPv4("01.2.3.4")).toBeNull();
    expect(parseIPv4("::1")).toBeNull();
  });
});
