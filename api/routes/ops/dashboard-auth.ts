import type { Context } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import { authenticate } from "../../../shared/auth/authenticate.ts";
import { authenticateBasic } from "../../../shared/auth/basic.ts";
import { signAccessToken } from "../../../shared/auth/tokens.ts";
import type { Principal, Services } from "../../../shared/context.ts";
import { UnauthorizedError } from "../../../shared/errors.ts";
import { clientAddress } from "../../client-address.ts";
import type { AppEnv } from "../../env.ts";

/** Sign-in for the browser-facing ops pages (/ops/queues, /ops/pipeline): one session for both. */
const COOKIE = "ops_session";
const COOKIE_PATH = "/ops";

/**
 * Who is asking: a session cookie set by an earlier sign-in, HTTP Basic from a browser's sign-in
 * prompt (throttled like /auth/login), or a bearer token from a tool.
 */
export async function principalOf(c: Context<AppEnv>, services: Services): Promise<Principal> {
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
      path: COOKIE_PATH,
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
export function sameOrigin(c: Context): boolean {
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
