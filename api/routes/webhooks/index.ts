import type { App } from "../../env.ts";
import { registerCreateEndpoint } from "./endpoints-create.ts";
import { registerDeleteEndpoint } from "./endpoints-delete.ts";
import { registerListEndpointDeliveries } from "./endpoints-deliveries.ts";
import { registerGetEndpoint } from "./endpoints-get.ts";
import { registerListEndpoints } from "./endpoints-list.ts";
import { registerRotateEndpointSecret } from "./endpoints-rotate-secret.ts";
import { registerUpdateEndpoint } from "./endpoints-update.ts";
import { registerGetEvent } from "./events-get.ts";
import { registerListEvents } from "./events-list.ts";
import { registerRedeliverEvent } from "./events-redeliver.ts";

/** Registers every event and webhook endpoint route (one file per route in this folder). */
export function registerWebhookRoutes(app: App): void {
  registerListEvents(app);
  registerGetEvent(app);
  registerRedeliverEvent(app);
  registerCreateEndpoint(app);
  registerListEndpoints(app);
  registerGetEndpoint(app);
  registerUpdateEndpoint(app);
  registerDeleteEndpoint(app);
  registerRotateEndpointSecret(app);
  registerListEndpointDeliveries(app);
}
