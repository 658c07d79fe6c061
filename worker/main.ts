// npm run start:worker, and each worker process of npm start: only the BullMQ workers and the
// periodic duties. Run as many as you like.
import cluster from "node:cluster";
import { boot, shutdownServices } from "../shared/bootstrap.ts";
import { answerMetricsCollection } from "../shared/cluster-metrics.ts";
import { configOrExit } from "../shared/config.ts";
import { onShutdown } from "../shared/process.ts";
import { startWorkers } from "./index.ts";

process.title = "payments-worker";
const config = configOrExit();
// Under npm start the supervisor has prepared the database already.
const services = await boot(config, "worker", { prepare: !cluster.isWorker });
const workers = await startWorkers(services);
// Under npm start, the primary collects this process's metrics for /metrics.
answerMetricsCollection(services.metrics.registry);
onShutdown(services.log, [workers.close, () => shutdownServices(services)]);
