import cluster, { type Worker } from "node:cluster";
import { AggregatorRegistry, type Registry } from "prom-client";

/**
 * One /metrics for the whole `npm start` process group. Each process counts in its own registry:
 * the API processes count requests and acceptances, the workers (the primary and any worker
 * children) postings and webhook deliveries. Whichever API process a scrape reaches asks the
 * primary, over the cluster IPC channel, for every process's metrics and serves them aggregated
 * (counters and histograms summed; sampled gauges taken from the asking process, which has just
 * refreshed them: `aggregator: "first"`). Outside npm start (start:api, tests) a process serves its own.
 */

const SCRAPE = "payments:metrics-scrape"; // child -> primary: { id, metrics }
const COLLECT = "payments:metrics-collect"; // primary -> child: { id }
const COLLECTED = "payments:metrics-collected"; // child -> primary: { id, metrics }
const SCRAPED = "payments:metrics-scraped"; // primary -> child: { id, text }
const TIMEOUT_MS = 3000;

type Message = { type?: string; id?: number; metrics?: unknown[]; text?: string };
type MetricsJson = Awaited<ReturnType<Registry["getMetricsAsJSON"]>>;

let nextId = 0;
const waiting = new Map<number, (value: Message) => void>();

/** Resolves with the message answering `id`, or rejects after TIMEOUT_MS. */
function answer(id: number): Promise<Message> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      waiting.delete(id);
      reject(new Error("no metrics answer in time"));
    }, TIMEOUT_MS);
    waiting.set(id, (message) => {
      clearTimeout(timer);
      waiting.delete(id);
      resolve(message);
    });
  });
}

/** True in a child of the npm start supervisor, where scrapes go through the primary. */
export function underSupervisor(): boolean {
  return cluster.isWorker && typeof process.send === "function";
}

/** In a child: hand this process's registry to the primary when it collects. Call once at boot. */
export function answerMetricsCollection(registry: Registry): void {
  if (!underSupervisor()) return;
  process.on("message", (message: Message) => {
    if (message?.type === COLLECT && typeof message.id === "number") {
      const id = message.id;
      void registry
        .getMetricsAsJSON()
        .then((metrics) => process.send?.({ type: COLLECTED, id, metrics }))
        .catch(() => {});
    } else if (message?.type === SCRAPED && typeof message.id === "number") {
      waiting.get(message.id)?.(message);
    }
  });
}

/** In a child: the whole group's metrics as Prometheus text, this process's gauges first. */
export async function scrapeThroughPrimary(registry: Registry): Promise<string> {
  const id = nextId++;
  const reply = answer(id);
  process.send?.({ type: SCRAPE, id, metrics: await registry.getMetricsAsJSON() });
  const { text } = await reply;
  if (typeof text !== "string") throw new Error("malformed metrics answer");
  return text;
}

/** In the primary: answers the children's scrapes with everyone's metrics, its own included. */
export function aggregateChildMetrics(own: Registry | null): void {
  const collect = (worker: Worker): Promise<MetricsJson | null> => {
    const id = nextId++;
    const reply = answer(id);
    worker.send({ type: COLLECT, id });
    return reply.then((m) => (m.metrics ?? null) as MetricsJson | null).catch(() => null);
  };
  cluster.on("message", (worker: Worker, message: Message) => {
    if (message?.type === COLLECTED && typeof message.id === "number") {
      waiting.get(message.id)?.(message);
      return;
    }
    if (message?.type !== SCRAPE || typeof message.id !== "number") return;
    const { id } = message;
    void (async () => {
      const others = Object.values(cluster.workers ?? {}).filter(
        (w): w is Worker => w !== undefined && w !== worker && w.isConnected(),
      );
      const [mine, ...theirs] = await Promise.all([
        own ? own.getMetricsAsJSON() : Promise.resolve([] as MetricsJson),
        ...others.map(collect),
      ]);
      const all = [message.metrics as MetricsJson, mine, ...theirs].filter((m): m is MetricsJson =>
        Boolean(m),
      );
      const text = await AggregatorRegistry.aggregate(all).metrics();
      if (worker.isConnected()) worker.send({ type: SCRAPED, id, text });
    })().catch(() => {
      // The child times out and serves its own metrics.
    });
  });
}
