// npm run start:api, and each API process of npm start: only the HTTP API.
import cluster from "node:cluster";
import { boot, shutdownServices } from "../shared/bootstrap.ts";
import { answerMetricsCollection } from "../shared/cluster-metrics.ts";
import { configOrExit } from "../shared/config.ts";
import { onShutdown } from "../shared/process.ts";
import { startApi } from "./server.ts";

process.title = "payments-api";
const config = configOrExit();
// Under npm start the supervisor has prepared the database already.
const services = await boot(config, "api", { prepare: !cluster.isWorker });
answerMetricsCollection(services.metrics.registry);
const api = await startApi(services, config.PORT);
onShutdown(services.log, [api.close, () => shutdownServices(services)]);
