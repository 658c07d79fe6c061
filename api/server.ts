import { type ServerType, serve } from "@hono/node-server";
import type { Services } from "../shared/context.ts";
import { createApp } from "./app.ts";

/** Starts the HTTP server; resolves once it listens. `close` stops taking connections and drains. */
export async function startApi(
  services: Services,
  port: number,
): Promise<{ port: number; close(): Promise<void> }> {
  const app = createApp(services);
  const server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, port, hostname: "0.0.0.0" }, () => resolve(s));
  });
  const address = server.address();
  const actualPort = typeof address === "object" && address ? address.port : port;
  services.log.info({ port: actualPort }, "api listening");
  return {
    port: actualPort,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Idle keep-alive connections would hold close() open.
        (server as unknown as { closeIdleConnections?: () => void }).closeIdleConnections?.();
      }),
  };
}
