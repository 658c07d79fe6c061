import cluster, { type Worker } from "node:cluster";
import type { Logger } from "./logger.ts";

/**
 * The npm start supervisor: a node:cluster primary that forks the API and worker processes,
 * replaces the ones that die and stops them all on SIGTERM / SIGINT. It serves nothing and opens
 * no Redis connection: everything it imports is small, because every byte of its memory is paid
 * for as long as the system runs.
 *
 * Crash policy, per slot (one slot per child the configuration asks for):
 * - a child that exits without being asked to is logged at error (exit code or signal) and
 *   replaced after RESTART_DELAY_MS, doubled for each earlier crash of that slot within
 *   CRASH_WINDOW_MS (1 s, 2 s, 4 s, 8 s);
 * - the MAX_CRASHES-th crash of one slot within CRASH_WINDOW_MS means it is not going to get
 *   better (bad deployment, database gone): the supervisor stops everything and exits 1, so the
 *   process manager above it (systemd, Docker, Kubernetes) sees the failure.
 *
 * Shutdown: SIGTERM to every child, each closes itself cleanly (HTTP, workers, Redis, Postgres);
 * the supervisor exits 0 once all are gone, or SIGKILLs the rest after SHUTDOWN_TIMEOUT_MS and
 * exits 1.
 */
export const RESTART_DELAY_MS = 1_000;
export const CRASH_WINDOW_MS = 60_000;
export const MAX_CRASHES = 5;
export const SHUTDOWN_TIMEOUT_MS = 30_000;

export type ChildRole = "api" | "worker";

export interface ChildGroup {
  role: ChildRole;
  count: number;
  /** The entry point each child of this group runs (api/main, worker/main). */
  exec: string;
}

interface Slot {
  role: ChildRole;
  index: number;
  exec: string;
  worker: Worker | null;
  /** When this slot's recent crashes happened (ms), for the backoff and the give-up rule. */
  crashes: number[];
  restartTimer: NodeJS.Timeout | null;
}

/**
 * Forks the groups' children and supervises them until a signal (or a crash loop) ends it all;
 * exits the process itself. `env` is added to every child's environment.
 */
export function supervise(
  log: Logger,
  groups: ChildGroup[],
  env: Record<string, string> = {},
  /** What the primary itself runs (the workers) stops with the children. */
  closeOwn: () => Promise<void> = async () => {},
): void {
  const slots: Slot[] = groups.flatMap((g) =>
    Array.from({ length: g.count }, (_, index) => ({
      role: g.role,
      index,
      exec: g.exec,
      worker: null,
      crashes: [],
      restartTimer: null,
    })),
  );
  let stopping = false;

  const fork = (slot: Slot) => {
    slot.restartTimer = null;
    // setupPrimary only affects the next fork: each child runs its own role's entry point.
    cluster.setupPrimary({ exec: slot.exec });
    const worker = cluster.fork(env);
    slot.worker = worker;
    const pid = worker.process.pid;
    log.info({ role: slot.role, slot: slot.index, child_pid: pid }, "child started");
    worker.on("error", (err) => log.warn({ err, role: slot.role, child_pid: pid }, "child process error"));
    worker.on("exit", (code, signal) => {
      slot.worker = null;
      if (stopping) {
        log.info({ role: slot.role, slot: slot.index, child_pid: pid, code, signal }, "child stopped");
        if (slots.every((s) => !s.worker)) finish(0);
        return;
      }
      const now = Date.now();
      slot.crashes = slot.crashes.filter((t) => now - t < CRASH_WINDOW_MS);
      slot.crashes.push(now);
      const crash = { role: slot.role, slot: slot.index, child_pid: pid, code, signal };
      if (slot.crashes.length >= MAX_CRASHES) {
        log.fatal(
          { ...crash, crashes: slot.crashes.length, window_ms: CRASH_WINDOW_MS },
          "child keeps dying; giving up",
        );
        stop(1);
        return;
      }
      const delay = RESTART_DELAY_MS * 2 ** (slot.crashes.length - 1);
      log.error({ ...crash, restart_in_ms: delay }, "child died unexpectedly; replacing it");
      slot.restartTimer = setTimeout(() => fork(slot), delay);
    });
  };

  let exitCode = 0;
  let killTimer: NodeJS.Timeout | null = null;
  let ownClosed: Promise<void> = Promise.resolve();
  const finish = (code: number) => {
    if (killTimer) clearTimeout(killTimer);
    void ownClosed.finally(() => {
      log.info("stopped");
      process.exit(Math.max(code, exitCode));
    });
  };

  /** Stops forking and asks every child to stop; exits once they are gone. */
  const stop = (code: number) => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    ownClosed = closeOwn().catch((err) => {
      log.error({ err }, "error while stopping the primary's own work");
      exitCode = 1;
    });
    for (const slot of slots) {
      if (slot.restartTimer) clearTimeout(slot.restartTimer);
      slot.restartTimer = null;
    }
    const live = slots.flatMap((s) => (s.worker ? [s.worker] : []));
    if (live.length === 0) return finish(code);
    for (const worker of live) worker.process.kill("SIGTERM");
    killTimer = setTimeout(() => {
      const left = slots.flatMap((s) => (s.worker ? [s.worker] : []));
      log.error(
        { children: left.map((w) => w.process.pid), after_ms: SHUTDOWN_TIMEOUT_MS },
        "children did not stop in time; killing them",
      );
      for (const worker of left) worker.process.kill("SIGKILL");
      exitCode = 1;
      // Their exit events finish the shutdown; this is the backstop if even that does not come.
      setTimeout(() => finish(1), 2_000).unref();
    }, SHUTDOWN_TIMEOUT_MS);
  };

  // The same signal may arrive twice (from the terminal and again through npm): one shutdown.
  const onSignal = (signal: NodeJS.Signals) => {
    if (!stopping) log.info({ signal }, "shutting down");
    stop(0);
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);

  for (const slot of slots) fork(slot);
  log.info(Object.fromEntries(groups.map((g) => [`${g.role}_processes`, g.count])), "supervisor started");
}
