// npm run start:api: migrations, then only the HTTP API.
import { boot, configOrExit, shutdownServices } from "../shared/bootstrap.ts";
import { onShutdown } from "../shared/process.ts";
import { startApi } from "./server.ts";

const config = configOrExit();
const services = await boot(config, "api");
const api = await startApi(services, config.PORT);
onShutdown(services.log, [api.close, () => shutdownServices(services)]);
