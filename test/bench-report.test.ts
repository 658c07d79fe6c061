import { describe, expect, it } from "vitest";
import { baselineCpuPerTransfer, cpuPerUnit } from "../bench/report.ts";

describe("bench: CPU per unit of work", () => {
  it("divides each kind's share of a core by the rate, and sums the app's kinds and all", () => {
    // At 2,000 payments/s, half a core is 250 µs per payment.
    const us = cpuPerUnit({ primary: 20, api: 50, postgres: 60, redis: 2, bench: 14 }, 2_000, [
      "primary",
      "api",
    ]);
    expect(us).toEqual({ primary: 100, api: 250, postgres: 300, redis: 10, bench: 70, app: 350, all: 730 });
  });

  it("has no figures when nothing was done (no division by zero)", () => {
    expect(cpuPerUnit({ postgres: 10 }, 0)).toEqual({});
    expect(cpuPerUnit({ postgres: 10 }, Number.NaN)).toEqual({});
  });

  it("gives baseline A's cost per transfer from Postgres and pgbench together, not Redis", () => {
    const baseline = {
      tps: 6_000,
      latencyMsAvg: 2.5,
      seconds: 20,
      clients: 16,
      cpu_pct: { postgres: 120, pgbench: 30, redis: 0.6 },
    };
    expect(baselineCpuPerTransfer(baseline)).toBe(250);
    expect(baselineCpuPerTransfer(null)).toBeNull();
  });
});
