import cluster from "node:cluster";
import type { Logger } from "./logger.ts";

/** A child of npm start that has not finished shutting down by then exits anyway (its supervisor
 * would SIGKILL it at 30 s; if the supervisor is gone, nobody else would). */
const CHILD_SHUTDOWN_DEADLINE_MS = 25_000;

/**
 * SIGTERM / SIGINT: run the closers in order (stop HTTP, let workers finish their job, close
 * Redis and Postgres), then exit. A second signal exits at once.
 *
 * In a child of npm start (a node:cluster worker) the supervisor owns the lifecycle: it sends
 * SIGTERM once and SIGKILLs after its deadline, and the same signal may also arrive from the
 * terminal or a `kill` of the whole process group, so repeated signals are ignored. If the
 * supervisor disappears (the IPC channel closes), the child shuts down the same clean way, so
 * nothing keeps serving without it.
 */
export function onShutdown(log: Logger, closers: (() => Promise<void>)[]): void {
  const child = cluster.worker;
  let stopping = false;
  const stop = async (reason: string) => {
    if (stopping) {
      if (child) return;
      process.exit(1);
    }
    stopping = true;
    log.info({ reason }, "shutting down");
    if (child) {
      setTimeout(() => {
        log.error({ after_ms: CHILD_SHUTDOWN_DEADLINE_MS }, "shutdown took too long; exiting");
        process.exit(1);
      }, CHILD_SHUTDOWN_DEADLINE_MS).unref();
    }
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
  if (child) {
    child.once("disconnect", () => {
      // node:cluster exits a worker at once (no cleanup) when the channel closes unless the
      // disconnect was asked for; this listener runs just before that check, so mark it asked
      // for and stop cleanly instead.
      child.exitedAfterDisconnect = true;
      void stop("supervisor gone");
    });
  }
}
