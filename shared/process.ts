import type { Logger } from "./logger.ts";

/**
 * SIGTERM / SIGINT: run the closers in order (stop HTTP, let workers finish their job, close
 * Redis and Postgres), then exit. A second signal exits at once.
 */
export function onShutdown(log: Logger, closers: (() => Promise<void>)[]): void {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    log.info({ signal }, "shutting down");
    for (const close of closers) {
      try {
        await close();
      } catch (err) {
        log.error({ err }, "error while shutting down");
      }
    }
    log.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}
