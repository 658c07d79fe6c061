import { pino } from "pino";

export type Logger = pino.Logger;

/** One root logger; request, job and payment scoped children come from `.child({...})`. */
export function createLogger(level: string): Logger {
  return pino(
    {
      level,
      // pid: npm start runs several processes that write to the same output.
      base: { service: "payments", pid: process.pid },
      // Defence in depth: even if a secret ends up in a logged object, it is not written.
      redact: {
        paths: [
          "password",
          "*.password",
          "token",
          "*.token",
          "access_token",
          "refresh_token",
          "*.refresh_token",
          "secret",
          "*.secret",
          "authorization",
          "*.authorization",
          'headers["authorization"]',
          "req.headers.authorization",
        ],
        censor: "[redacted]",
      },
    },
    // Synchronous writes to stdout (the logs are sparse: lifecycle, warnings, errors). pino's
    // default asynchronous stream flushes at exit in a loop that never ends once stdout is a
    // broken pipe (sonic-boom retries EPIPE forever), so a process whose log reader died could
    // never exit; with sync writes a broken pipe just stops the logging.
    pino.destination({ dest: 1, sync: true }),
  );
}

const LEVELS = new Set(["trace", "debug", "info", "warn", "error", "fatal"]);
const noop = () => {};

/**
 * `parent.child(bindings)`, made only when something is logged through it. A request's logger is
 * bound to its request id and user, but most requests log nothing at the configured level, and a
 * pino child costs its bindings' serialization (with redaction) up front: a few percent of the
 * API's CPU at a thousand requests per second. Calls at disabled levels are no-ops, `child` of a
 * lazy child stays lazy, anything else makes the real child once and uses it from then on.
 */
export function lazyChild(parent: Logger, bindings: Record<string, unknown>): Logger {
  let real: Logger | null = null;
  return new Proxy(parent, {
    get(_target, prop) {
      if (!real) {
        if (prop === "child") {
          return (more: Record<string, unknown>, options?: pino.ChildLoggerOptions) =>
            options
              ? parent.child(bindings).child(more, options)
              : lazyChild(parent, { ...bindings, ...more });
        }
        if (typeof prop === "string" && LEVELS.has(prop) && !parent.isLevelEnabled(prop)) return noop;
        real = parent.child(bindings);
      }
      const value: unknown = Reflect.get(real, prop, real);
      return typeof value === "function" ? value.bind(real) : value;
    },
  });
}
