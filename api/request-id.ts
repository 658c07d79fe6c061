import type { Context } from "hono";

/**
 * Every response carries `x-request-id`, and the headers a middleware put in the context's
 * `responseHeaders` (the RateLimit fields). The hot paths (idempotent money responses, problems)
 * build their responses with them, from plain header objects: @hono/node-server sends those without
 * ever building a web Response or Headers object, and touching a finished response's headers would
 * build both, on every request. Other responses get them added afterwards.
 */
const stamped = new WeakSet<Response>();

/** A response with these headers and the request's id. */
export function stampedResponse(
  c: Context,
  body: string,
  status: number,
  headers: Record<string, string>,
): Response {
  const requestId = (c.get("requestId") as string | undefined) ?? "";
  const extra = c.get("responseHeaders") as Record<string, string> | undefined;
  const res = new Response(body, { status, headers: { ...extra, ...headers, "x-request-id": requestId } });
  stamped.add(res);
  return res;
}

/** Adds `x-request-id` (and the context's `responseHeaders`) to a response built elsewhere. */
export function stampRequestId(c: Context, res: Response): void {
  if (stamped.has(res)) return;
  res.headers.set("x-request-id", (c.get("requestId") as string | undefined) ?? "");
  const extra = c.get("responseHeaders") as Record<string, string> | undefined;
  for (const [name, value] of Object.entries(extra ?? {})) {
    if (!res.headers.has(name)) res.headers.set(name, value);
  }
}
