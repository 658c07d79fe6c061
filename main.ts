// npm start: migrations, then the API and the workers in one process.
import { startApi } from "./api/server.ts";
import { boot, configOrExit, shutdownServices } from "./shared/bootstrap.ts";
import { onShutdown } from "./shared/process.ts";
import { startWorkers } from "./worker/index.ts";

const config = configOrExit();
const services = await boot(config, "all");
const workers = await startWorkers(services);
const api = await startApi(services, config.PORT);
onShutdown(services.log, [api.close, workers.close, () => shutdownServices(services)]);
