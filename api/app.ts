import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { dirname, relative } from "node:path";
import { serveStatic } from "@hono/node-server/serve-static";
import { swaggerUI } from "@hono/swagger-ui";
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Services } from "../shared/context.ts";
import { ValidationError } from "../shared/errors.ts";
import { requestsInProgress } from "../shared/in-progress.ts";
import { lazyChild } from "../shared/logger.ts";
import type { App, AppEnv } from "./env.ts";
import { exactJson } from "./middleware/exact-json.ts";
import { rateLimitUnauthenticated } from "./middleware/rate-limit.ts";
import { documentSharedErrors } from "./openapi.ts";
import { errorToResponse, problemResponse, zodFieldErrors } from "./problem.ts";
import { stampRequestId } from "./request-id.ts";
import { CachingRouter } from "./route-cache.ts";
import { registerRoutes } from "./routes/index.ts";

const MAX_BODY_BYTES = 64 * 1024;
const DOCS_ASSETS = "/docs/assets";
const SWAGGER_UI_DIR = relative(
  process.cwd(),
  dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json")),
);
const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** Builds the whole HTTP app. The server and the tests build it the same way. */
export function createApp(services: Services): App {
  const app: App = new OpenAPIHono<AppEnv>({
    router: new CachingRouter(),
    // zod validation errors become problem+json with a JSON pointer per field.
    defaultHook: (result, c) => {
      if (!result.success) {
        const err = new ValidationError("validation_failed", "The request is not valid.", {
          errors: zodFieldErrors(result.error, result.target),
        });
        return errorToResponse(c, err);
      }
      return undefined;
    },
  });

  app.use("*", async (c, next) => {
    const incoming = c.req.header("x-request-id");
    const requestId = incoming && REQUEST_ID.test(incoming) ? incoming : `req_${randomUUID()}`;
    c.set("requestId", requestId);
    c.set("services", services);
    c.set("log", lazyChild(services.log, { request_id: requestId }));
    const started = performance.now();
    requestsInProgress.enter();
    try {
      await next();
    } finally {
      requestsInProgress.leave();
    }
    stampRequestId(c, c.res);
    const seconds = (performance.now() - started) / 1000;
    const route = c.req.routePath === "/*" ? "unmatched" : c.req.routePath;
    services.metrics.httpDuration.observe(
      { method: c.req.method, route, status: String(c.res.status) },
      seconds,
    );
    c.get("log").debug(
      { method: c.req.method, path: c.req.path, status: c.res.status, ms: seconds * 1000 },
      "request",
    );
  });

  const tooLarge = (c: Context<AppEnv>) =>
    problemResponse(c, {
      status: 413,
      code: "payload_too_large",
      detail: `The request body exceeds ${MAX_BODY_BYTES} bytes.`,
    });
  const streamedBodyLimit = bodyLimit({ maxSize: MAX_BODY_BYTES, onError: tooLarge });
  app.use("*", (c, next) => {
    // A declared length is checked from the header (Node's parser holds the body to it), and a
    // read without one has no body. Only other bodies (chunked) go through hono's bodyLimit, which
    // reads `c.req.raw.body` and so builds a full web Request: a cost every request paid before.
    const length = c.req.header("content-length");
    if (c.req.header("transfer-encoding") === undefined) {
      if (length !== undefined) {
        return Number.parseInt(length, 10) > MAX_BODY_BYTES ? Promise.resolve(tooLarge(c)) : next();
      }
      if (c.req.method === "GET" || c.req.method === "HEAD") return next();
    }
    return streamedBodyLimit(c, next);
  });
  // Per client address for /api/v1 routes without requireAuth (which limits per principal itself).
  app.use("/api/v1/*", rateLimitUnauthenticated);
  app.use("*", exactJson);

  app.onError((err, c) => {
    const res = errorToResponse(c, err);
    // 503s (a dependency down) are logged at warn where they are recognised; the rest is a bug.
    if (res.status === 500) c.get("log")?.error({ err }, "unhandled error");
    stampRequestId(c, res);
    return res;
  });

  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    description: "A JWT access token from /api/v1/auth/login, or a merchant API key (sk_...).",
  });

  registerRoutes(app, services);
  documentSharedErrors(app.openAPIRegistry);

  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "Payments API",
      version: "1.0.0",
      description:
        "Ledger-first asynchronous payment processor. Errors are RFC 9457 problem+json; money-moving POSTs need an Idempotency-Key.",
    },
    servers: [{ url: "/" }],
  });
  // The docs page's assets come from our own swagger-ui-dist, not a CDN: it works offline and
  // runs no third-party script next to the API.
  app.use(
    `${DOCS_ASSETS}/swagger-ui-dist/*`,
    serveStatic({
      root: SWAGGER_UI_DIR,
      rewriteRequestPath: (path) => path.replace(`${DOCS_ASSETS}/swagger-ui-dist`, ""),
    }),
  );
  app.get("/docs", swaggerUI({ url: "/openapi.json", title: "Payments API", baseUrl: DOCS_ASSETS }));

  // Unknown path: 404. Known path, other method: 405 with Allow.
  const routes = () =>
    app.openAPIRegistry.definitions.flatMap((d) =>
      d.type === "route"
        ? [
            {
              method: d.route.method.toUpperCase(),
              re: new RegExp(`^${d.route.path.replace(/\{[^}]+\}/g, "[^/]+")}$`),
            },
          ]
        : [],
    );
  app.notFound((c) => {
    const allowed = routes()
      .filter((r) => r.re.test(c.req.path))
      .map((r) => r.method);
    if (allowed.length > 0) {
      return problemResponse(c, {
        status: 405,
        code: "method_not_allowed",
        detail: `${c.req.method} is not allowed here. Allowed: ${[...new Set(allowed)].join(", ")}.`,
        headers: { Allow: [...new Set(allowed)].join(", ") },
      });
    }
    return problemResponse(c, {
      status: 404,
      code: "not_found",
      detail: `No route for ${c.req.method} ${c.req.path}.`,
    });
  });

  return app;
}
