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
