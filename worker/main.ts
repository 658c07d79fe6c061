// npm run start:worker: migrations, then only the BullMQ workers. Run as many as you like.
import { boot, configOrExit, shutdownServices } from "../shared/bootstrap.ts";
import { onShutdown } from "../shared/process.ts";
import { startWorkers } from "./index.ts";

const config = configOrExit();
const services = await boot(config, "worker");
const workers = await startWorkers(services);
onShutdown(services.log, [workers.close, () => shutdownServices(services)]);
