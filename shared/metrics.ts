import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** Every Prometheus metric of the process, on one registry (no global state between test apps). */
/**
 * Gauges sampled at scrape time are `aggregator: "first"`: across the npm start processes the
 * scraped process's fresh values count, not a sum with others' stale ones (shared/cluster-metrics.ts).
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    httpDuration: new Histogram({
      name: "http_request_duration_seconds",
      help: "HTTP request duration by method, route and status",
      labelNames: ["method", "route", "status"] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    paymentsAccepted: new Counter({
      name: "payments_accepted_total",
      help: "Payments accepted (202) by type",
      labelNames: ["type"] as const,
      registers: [registry],
    }),
    paymentsCompleted: new Counter({
      name: "payments_completed_total",
      help: "Payments that reached a posted state, by status (succeeded, failed, requires_capture, canceled)",
      labelNames: ["status"] as const,
      registers: [registry],
    }),
    paymentDeclines: new Counter({
      name: "payment_declines_total",
      help: "Payments and refunds declined while posting, by failure code",
      labelNames: ["code"] as const,
      registers: [registry],
    }),
    postingSeconds: new Histogram({
      name: "payment_posting_seconds",
      help: "Time from acceptance to the posted state",
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    postingBatchSize: new Histogram({
      name: "posting_batch_size",
      help: "Operations posted per database transaction",
      buckets: [1, 2, 5, 10, 25, 50, 100, 200, 500],
      registers: [registry],
    }),
    postingTransactions: new Counter({
      name: "posting_transactions_total",
      help: "Posting transactions by result: committed, or rolled back (a batch that failed and is retried or narrowed down)",
      labelNames: ["result"] as const,
      registers: [registry],
    }),
    operationsSetAside: new Counter({
      name: "posting_operations_set_aside_total",
      help: "Operations set aside because posting them fails for good (their payment or refund failed with processing_error)",
      registers: [registry],
    }),
    postingBacklog: new Gauge({
      name: "payments_posting_backlog",
      help: "Accepted operations not yet posted, per partition (from Postgres, sampled every few seconds)",
      labelNames: ["partition"] as const,
      aggregator: "first",
      registers: [registry],
    }),
    postingOldestPending: new Gauge({
      name: "payments_posting_oldest_pending_seconds",
      help: "Age of the oldest operation not yet posted, per partition (0 when none)",
      labelNames: ["partition"] as const,
      aggregator: "first",
      registers: [registry],
    }),
    setAsideOperations: new Gauge({
      name: "payments_operations_set_aside",
      help: "Set-aside operations not yet retried or resolved (GET /api/v1/ops/operations)",
      aggregator: "first",
      registers: [registry],
    }),
    webhooksPending: new Gauge({
      name: "webhook_deliveries_pending",
      help: "Webhook deliveries waiting for a (next) attempt",
      aggregator: "first",
      registers: [registry],
    }),
    webhookOldestPending: new Gauge({
      name: "webhook_delivery_oldest_pending_seconds",
      help: "Age of the oldest webhook delivery still pending (0 when none)",
      aggregator: "first",
      registers: [registry],
    }),
    dependencyUp: new Gauge({
      name: "payments_dependency_up",
      help: "1 when the dependency answers (as /ready sees it), else 0",
      labelNames: ["dependency"] as const,
      aggregator: "first",
      registers: [registry],
    }),
    queueJobs: new Gauge({
      name: "queue_jobs",
      help: "Jobs per queue and state",
      labelNames: ["queue", "state"] as const,
      aggregator: "first",
      registers: [registry],
    }),
    webhookDeliveries: new Counter({
      name: "webhook_deliveries_total",
      help: "Webhook delivery attempts by outcome",
      labelNames: ["outcome"] as const,
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
