import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { createMetrics } from "../shared/metrics.ts";

// deploy/: Prometheus alerts (checked and unit tested by promtool), the Grafana dashboard and the
// provisioning, all held to the metric names the app really exports.

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
const ALERTS = "deploy/prometheus/alerts.yml";
const ALERT_TESTS = "deploy/prometheus/alerts.test.yml";
const PROMETHEUS_CONFIG = "deploy/prometheus/prometheus.yml";
const DASHBOARD = "deploy/grafana/payments.json";
const DATASOURCE = "deploy/grafana/provisioning/datasources/prometheus.yml";

/** The app's metrics that deploy/ may use (histograms with their _bucket, _count and _sum). */
const HISTOGRAMS = ["http_request_duration_seconds", "payment_posting_seconds", "posting_batch_size"];
const SCALARS = [
  "payments_accepted_total",
  "payments_completed_total",
  "payment_declines_total",
  "posting_transactions_total",
  "posting_operations_set_aside_total",
  "queue_jobs",
  "webhook_deliveries_total",
  // Read from Postgres every few seconds.
  "payments_posting_backlog",
  "payments_posting_oldest_pending_seconds",
  "payments_operations_set_aside",
  "webhook_deliveries_pending",
  "webhook_delivery_oldest_pending_seconds",
  "payments_dependency_up",
];
/** Prometheus' own, per scrape target. */
const PROMETHEUS_METRICS = ["up"];
const KNOWN = new Set([
  ...SCALARS,
  ...PROMETHEUS_METRICS,
  ...HISTOGRAMS.flatMap((h) => [`${h}_bucket`, `${h}_count`, `${h}_sum`]),
]);
const baseName = (name: string) => name.replace(/_(bucket|count|sum)$/, "");

const read = (path: string) => readFileSync(join(ROOT, path), "utf8");

/** Runs promtool in the repository root; fails the test with what to install when it is missing. */
function promtool(...args: string[]): { code: number; output: string } {
  const run = spawnSync("promtool", args, { cwd: ROOT, encoding: "utf8", timeout: 30_000 });
  if ((run.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT") {
    throw new Error(
      "promtool is not installed: install Debian's prometheus package " +
        "(apt-get install --no-install-recommends prometheus), as .ci/run does",
    );
  }
  if (run.error) throw run.error;
  return { code: run.status ?? -1, output: `${run.stdout}${run.stderr}` };
}

const PROMQL_KEYWORDS = new Set(["and", "or", "unless", "bool", "offset", "inf", "nan"]);

/** The metric names a PromQL expression selects (functions, labels, keywords and numbers left out). */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // string literals
    .replace(/\{[^}]*\}/g, " ") // label matchers
    .replace(/\[[^\]]*\]/g, " ") // ranges and subqueries
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ") // label lists
    .replace(/\$\{?\w+\}?/g, " "); // Grafana variables ($__rate_interval)
  const names = new Set<string>();
  for (const m of bare.matchAll(/(?<![\w.:])[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const word = m[0];
    if (/^\s*\(/.test(bare.slice(m.index + word.length))) continue; // a function or an aggregation
    if (!PROMQL_KEYWORDS.has(word.toLowerCase())) names.add(word);
  }
  return [...names].sort();
}

/** The values of every `expr:` key of one of our YAML files (plain, quoted or block scalars). */
function yamlExprs(text: string): string[] {
  const lines = text.split("\n");
  const exprs: string[] = [];
  lines.forEach((line, i) => {
    const m = /^(\s*)(?:- )?expr:\s*(.*)$/.exec(line);
    if (!m) return;
    const indent = m[1]!.length;
    const value = m[2]!.replace(/\s+#.*$/, "").trim();
    if (!/^[|>][-+]?$/.test(value)) {
      exprs.push(value.replace(/^'(.*)'$/, "$1").replace(/^"(.*)"$/, "$1"));
      return;
    }
    const block: string[] = [];
    for (const next of lines.slice(i + 1)) {
      if (next.trim() !== "" && next.length - next.trimStart().length <= indent) break;
      block.push(next);
    }
    // A block scalar's indentation is its first line's.
    const first = block.find((l) => l.trim() !== "") ?? "";
    const strip = first.length - first.trimStart().length;
    exprs.push(
      block
        .map((l) => l.slice(strip))
        .join("\n")
        .trim(),
    );
  });
  return exprs;
}

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: string; uid: string };
  targets?: { expr: string; datasource?: { type: string; uid: string } }[];
  panels?: Panel[];
}
const dashboard = JSON.parse(read(DASHBOARD)) as { uid: string; schemaVersion: number; panels: Panel[] };
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const graphs = panels.filter((p) => p.type !== "row");
const dashboardExprs = graphs.flatMap((p) =>
  (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })),
);
const alertExprs = yamlExprs(read(ALERTS));

describe("the metric name extractor (what the checks below rely on)", () => {
  it("finds selected metrics and nothing else", () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket{route=~"/a|b", le!="x"}[5m])))',
      ),
    ).toEqual(["http_request_duration_seconds_bucket"]);
    expect(
      metricNames(
        'sum(rate(a_total{s=~"5.."}[$__rate_interval])) / sum(rate(b_total[5m] offset 1h)) > 1e-2 or max(c) == 0 and on (x) d',
      ),
    ).toEqual(["a_total", "b_total", "c", "d"]);
    expect(metricNames('up{job="payments"} == 0')).toEqual(["up"]);
  });

  it("reads block, plain and quoted expr values from YAML", () => {
    const yaml = [
      "rules:",
      "  - alert: A",
      "    expr: max(a) > 0",
      "    for: 1m",
      "  - alert: B",
      "    expr: |",
      "      sum(b)",
      "",
      "        / sum(c)",
      "    labels: {}",
      "  - record: c",
      "    expr: 'd'",
    ].join("\n");
    expect(yamlExprs(yaml)).toEqual(["max(a) > 0", "sum(b)\n\n  / sum(c)", "d"]);
  });
});

describe("deploy/prometheus", () => {
  it("alerts.yml passes promtool check rules", () => {
    const { code, output } = promtool("check", "rules", ALERTS);
    expect(output).toContain("SUCCESS");
    expect(code, output).toBe(0);
    // Every rule's expression is seen by the metric name checks below.
    expect(output).toContain(`SUCCESS: ${alertExprs.length} rules found`);
  });

  it("the alert unit tests pass (promtool test rules alerts.test.yml): each alert fires when it should, only then", () => {
    const { code, output } = promtool("test", "rules", ALERT_TESTS);
    expect(code, output).toBe(0);
    expect(output).toContain("SUCCESS");
  });

  it("prometheus.yml passes promtool check config, with its rule file", () => {
    const { code, output } = promtool("check", "config", PROMETHEUS_CONFIG);
    expect(code, output).toBe(0);
    expect(output).toContain("SUCCESS: 1 rule files found");
    expect(read(PROMETHEUS_CONFIG)).toMatch(/job_name: payments\b/);
  });

  it("the alerts cover backlog age, set-aside operations, webhooks, readiness, errors and latency", () => {
    const text = read(ALERTS);
    const alerts = [...text.matchAll(/^\s*- alert: (\w+)$/gm)].map((m) => m[1]);
    expect(alerts).toEqual([
      "PostingBacklogStale",
      "OperationsSetAside",
      "WebhookDeliveriesFailing",
      "ServiceNotReady",
      "HighErrorRate",
      "AcceptLatencyHigh",
    ]);
    expect(alertExprs).toHaveLength(alerts.length);
    // Each has a severity, a summary and a description.
    expect(text.match(/^\s+severity: (critical|warning)$/gm)).toHaveLength(alerts.length);
    expect(text.match(/^\s+summary: /gm)).toHaveLength(alerts.length);
    expect(text.match(/^\s+description: /gm)).toHaveLength(alerts.length);
  });

  it("alerts and their unit tests only use metrics the app exports", () => {
    for (const expr of alertExprs) {
      const names = metricNames(expr);
      expect(names.length, expr).toBeGreaterThan(0);
      for (const name of names) expect(KNOWN.has(name), `${name} in ${expr}`).toBe(true);
    }
    const series = [...read(ALERT_TESTS).matchAll(/^\s*- series: '([a-zA-Z_:][a-zA-Z0-9_:]*)\{/gm)];
    expect(series.length).toBeGreaterThan(0);
    for (const [, name] of series) expect(KNOWN.has(name!), `input series ${name}`).toBe(true);
  });
});

describe("deploy/grafana", () => {
  it("the dashboard is JSON over the provisioned datasource (uid prometheus), with unique ids", () => {
    expect(dashboard.uid).toBe("payments");
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(39);
    expect(read(DASHBOARD)).not.toContain("${DS_");
    expect(read(DATASOURCE)).toMatch(/^\s+uid: prometheus$/m);
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    expect(graphs.length).toBeGreaterThanOrEqual(15);
    for (const p of graphs) {
      expect(p.datasource, p.title).toEqual({ type: "prometheus", uid: "prometheus" });
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets ?? []) expect(t.datasource?.uid, p.title).toBe("prometheus");
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
    }
  });

  it("every panel query only uses metrics the app exports, and every such metric has a panel", () => {
    const used = new Set<string>();
    for (const { panel, expr } of dashboardExprs) {
      const names = metricNames(expr);
      expect(names.length, `${panel}: ${expr}`).toBeGreaterThan(0);
      for (const name of names) {
        expect(KNOWN.has(name), `${panel}: ${name} in ${expr}`).toBe(true);
        used.add(baseName(name));
      }
    }
    expect([...used].sort()).toEqual([...SCALARS, ...PROMETHEUS_METRICS, ...HISTOGRAMS].sort());
  });

  it("every panel query is valid PromQL (promtool checks them as recording rules)", () => {
    const dir = mkdtempSync(join(tmpdir(), "payments-dashboard-"));
    try {
      const rules = dashboardExprs.map(({ expr }, i) => ({
        record: `dashboard:panel_query:${i}`,
        expr: expr.replace(/\$__rate_interval|\$__interval|\$__range/g, "5m"),
      }));
      const file = join(dir, "dashboard.rules.json"); // JSON is YAML
      writeFileSync(file, JSON.stringify({ groups: [{ name: "dashboard", rules }] }));
      const { code, output } = promtool("check", "rules", file);
      expect(code, output).toBe(0);
      expect(output).toContain(`SUCCESS: ${rules.length} rules found`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the app exports what deploy/ uses", () => {
  // A renamed or removed metric breaks this, and with it the lists above.
  it("createMetrics() registers every metric name the lists above hold", async () => {
    const registered = new Set((await createMetrics().registry.getMetricsAsJSON()).map((m) => m.name));
    for (const name of [...SCALARS, ...HISTOGRAMS]) {
      expect(registered.has(name), `shared/metrics.ts registers no metric "${name}"`).toBe(true);
    }
  });
});
