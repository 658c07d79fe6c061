import { serveStatic } from "@hono/node-server/serve-static";
import { type Context, Hono } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import { authenticate } from "../../../shared/auth/authenticate.ts";
import { authenticateBasic } from "../../../shared/auth/basic.ts";
import { signAccessToken } from "../../../shared/auth/tokens.ts";
import type { Principal, Services } from "../../../shared/context.ts";
import { ForbiddenError, UnauthorizedError } from "../../../shared/errors.ts";
import { clientAddress } from "../../client-address.ts";
import type { App, AppEnv } from "../../env.ts";
import { problemResponse } from "../../problem.ts";

const BASE = "/ops/queues";
const COOKIE = "ops_session";

/**
 * Who is asking: a session cookie set by an earlier sign-in, HTTP Basic from a browser's sign-in
 * prompt (throttled like /auth/login), or a bearer token from a tool.
 */
async function principalOf(c: Context<AppEnv>, services: Services): Promise<Principal> {
  const header = c.req.header("authorization");
  if (/^bearer /i.test(header ?? "")) return authenticate(services, header);
  const cookie = getCookie(c, COOKIE);
  if (!header && cookie) return authenticate(services, `Bearer ${cookie}`);
  if (/^basic /i.test(header ?? "")) {
    if (cookie) {
      // The browser resends Basic with every request: honour the session instead of bcrypt each time.
      const fromCookie = await authenticate(services, `Bearer ${cookie}`).catch(() => null);
      if (fromCookie) return fromCookie;
    }
    const principal = await authenticateBasic(services, header, {
      clientAddress: clientAddress(c),
      roles: ["ops", "admin"],
    });
    setCookie(c, COOKIE, await signAccessToken(services.config, principal), {
      path: BASE,
      httpOnly: true,
      sameSite: "Strict",
      secure: new URL(c.req.url).protocol === "https:",
      maxAge: services.config.ACCESS_TOKEN_TTL_SECONDS,
    });
    return principal;
  }
  throw new UnauthorizedError();
}

/** State-changing requests must come from our own pages: browsers resend Basic credentials cross-site. */
function sameOrigin(c: Context): boolean {
  const site = c.req.header("sec-fetch-site");
  if (site && site !== "same-origin" && site !== "none") return false;
  const origin = c.req.header("origin");
  if (!origin) return true;
  try {
    return new URL(origin).host === new URL(c.req.url).host;
  } catch {
    return false;
  }
}

/** ops read everything and may retry jobs; pausing, emptying, cleaning or adding is for admins. */
function allowed(principal: Principal, method: string, path: string): boolean {
  if (principal.role === "admin") return true;
  if (principal.role !== "ops") return false;
  return method === "GET" || method === "HEAD" || (method === "PUT" && /\/retry(\/[^/]+)?$/.test(path));
}

/** bull-board at /ops/queues for ops (read, retry) and admin (everything). */
export function registerQueueDashboard(app: App, services: Services): void {
  app.use(`${BASE}/*`, async (c, next) => {
    try {
      if (c.req.method !== "GET" && c.req.method !== "HEAD" && !sameOrigin(c)) {
        throw new ForbiddenError("cross_site_request", "Cross-site requests to the dashboard are refused.");
      }
      const principal = await principalOf(c, services);
      if (!allowed(principal, c.req.method, c.req.path)) throw new ForbiddenError();
    } catch (err) {
      if (err instanceof UnauthorizedError) {
        return problemResponse(c, {
          status: 401,
          code: err.code,
          detail: "Sign in as an ops or admin user.",
          headers: { "WWW-Authenticate": 'Basic realm="queues", charset="UTF-8"' },
        });
      }
      throw err;
    }
    await next();
    return undefined;
  });
  // The dashboard's own links point at the base with a trailing slash.
  app.get(`${BASE}/`, (c) => c.redirect(BASE));
  const board = lazyBoard(services);
  const serve = async (c: Context<AppEnv>) => {
    const res = await (await board()).fetch(c.req.raw, c.env);
    // Through the context, so headers set on the way (the session cookie) reach the browser.
    return c.newResponse(res.body, res.status as 200, Object.fromEntries(res.headers));
  };
  app.all(BASE, serve);
  app.all(`${BASE}/*`, serve);
}

/**
 * bull-board is loaded on the first dashboard request, not at boot: it weighs ~20 MiB of memory in
 * every API process, and most processes never serve the dashboard.
 */
function lazyBoard(services: Services): () => Promise<Hono> {
  let board: Promise<Hono> | null = null;
  return () => {
    board ??= (async () => {
      const [{ createBullBoard }, { BullMQAdapter }, { HonoAdapter }] = await Promise.all([
        import("@bull-board/api"),
        import("@bull-board/api/bullMQAdapter"),
        import("@bull-board/hono"),
      ]);
      const adapter = new HonoAdapter(serveStatic);
      createBullBoard({
        queues: services.queues.all().map((q) => new BullMQAdapter(q)),
        serverAdapter: adapter,
        options: { uiConfig: { boardTitle: "Payments queues" } },
      });
      adapter.setBasePath(BASE);
      return new Hono().route(BASE, adapter.registerPlugin());
    })();
    return board;
  };
}
