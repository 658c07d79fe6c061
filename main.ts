// npm start: the supervisor. Prepares the database once (migrations, admin), then runs
// API_PROCESSES API processes sharing PORT and WORKER_PROCESSES worker processes as node:cluster
// children, replaces the ones that die and stops them all on SIGTERM (shared/supervisor.ts).
import { fileURLToPath } from "node:url";
import { configOrExit } from "./shared/config.ts";
import { createLogger } from "./shared/logger.ts";
import { prepareDatabase } from "./shared/prepare.ts";
import { supervise } from "./shared/supervisor.ts";

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
supervise(
  log,
  [
    { role: "api", count: config.API_PROCESSES, exec: entry("./api/main") },
    { role: "worker", count: config.WORKER_PROCESSES, exec: entry("./worker/main") },
  ],
  env,
);
