// npm start: the supervisor. Prepares the database once (migrations, admin), runs the workers
// (posting, webhooks, periodic duties) itself, and runs API_PROCESSES API processes sharing PORT
// (plus WORKER_PROCESSES - 1 more worker processes) as node:cluster children; replaces the ones
// that die and stops them all on SIGTERM (shared/supervisor.ts). The workers live in this process
// rather than in a child of their own because every Node process costs ~50 MiB of memory before
// it does anything: one process fewer is what keeps the whole system within 300 MiB.
import { fileURLToPath } from "node:url";
import { boot, shutdownServices } from "./shared/bootstrap.ts";
import { aggregateChildMetrics } from "./shared/cluster-metrics.ts";
import { configOrExit } from "./shared/config.ts";
import { createLogger } from "./shared/logger.ts";
import { prepareDatabase } from "./shared/prepare.ts";
import { supervise } from "./shared/supervisor.ts";
import { startWorkers } from "./worker/index.ts";

process.title = "payments-primary";
const config = configOrExit();
const log = createLogger(config.LOG_LEVEL).child({ process: "primary" });

try {
  await prepareDatabase(config, log);
} catch (err) {
  log.fatal({ err }, "could not prepare the database");
  process.exit(1);
}

// The children must share one JWT secret, or a token issued by one API process fails on the next:
// without JWT_SECRET, this process's random one is handed to them.
const env: Record<string, string> = {};
if (config.JWT_SECRET_GENERATED) {
  log.warn("JWT_SECRET is not set: using a random secret (tokens end at restart)");
  env.JWT_SECRET = config.JWT_SECRET;
}

// The children run the same way as this file: compiled (dist/**/*.js) or through tsx (*.ts).
const ext = import.meta.url.endsWith(".ts") ? "ts" : "js";
const entry = (path: string) => fileURLToPath(new URL(`${path}.${ext}`, import.meta.url));
// The workers, unless they run elsewhere (WORKER_PROCESSES=0).
const own = config.WORKER_PROCESSES > 0 ? await boot(config, "primary", { prepare: false }) : null;
const workers = own ? await startWorkers(own) : null;
// One /metrics for the whole group: the API process a scrape reaches asks here for everyone's.
aggregateChildMetrics(own?.metrics.registry ?? null);
supervise(
  log,
  [
    { role: "api", count: config.API_PROCESSES, exec: entry("./api/main") },
    { role: "worker", count: Math.max(0, config.WORKER_PROCESSES - 1), exec: entry("./worker/main") },
  ],
  env,
  // On SIGTERM, alongside the children: the workers finish their current job, then all closes.
  async () => {
    await workers?.close();
    if (own) await shutdownServices(own);
  },
);
