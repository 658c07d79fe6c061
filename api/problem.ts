import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ZodError } from "zod";
import { isDatabaseUnavailable } from "../shared/db/index.ts";
import { type DomainError, type FieldError, isDomainError } from "../shared/errors.ts";
import { stampedResponse } from "./request-id.ts";

/** RFC 9457 problem details, the one error shape of the API. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  request_id: string;
  errors: FieldError[];
}

const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

export function problemResponse(
  c: Context,
  p: {
    status: number;
    code: string;
    detail: string;
    errors?: FieldError[];
    headers?: Record<string, string>;
  },
): Response {
  const body: Problem = {
    type: `https://docs.payments.example/errors/${p.code}`,
    title: TITLES[p.status] ?? "Error",
    status: p.status,
    detail: p.detail,
    code: p.code,
    request_id: (c.get("requestId") as string | undefined) ?? "",
    errors: p.errors ?? [],
  };
  return stampedResponse(c, JSON.stringify(body), p.status, {
    "content-type": "application/problem+json",
    ...(p.headers ?? {}),
  });
}

export function domainProblem(c: Context, err: DomainError): Response {
  return problemResponse(c, {
    status: err.status,
    code: err.code,
    detail: err.message,
    errors: err.errors,
    headers: err.headers,
  });
}

/** zod issues -> `errors[]` with JSON pointers into the part of the request that was wrong. */
export function zodFieldErrors(error: ZodError, target: string): FieldError[] {
  const base = target === "json" || target === "form" ? "" : `/${target}`;
  return error.issues.map((issue) => ({
    pointer:
      `${base}/${issue.path.map((s) => String(s).replaceAll("~", "~0").replaceAll("/", "~1")).join("/")}`.replace(
        /\/$/,
        "",
      ),
    detail: issue.message,
  }));
}

const DATABASE_RETRY_AFTER_SECONDS = 1;

/** The problems hono and its validators raise themselves (HTTPException). */
function httpProblem(c: Context, status: HTTPException["status"], message: string): Response {
  switch (status) {
    case 400:
      return problemResponse(c, {
        status,
        code: "malformed_request",
        detail: "The request body is not valid JSON.",
      });
    case 413:
      return problemResponse(c, {
        status,
        code: "payload_too_large",
        detail: "The request body is too large.",
      });
    case 415:
      return problemResponse(c, {
        status,
        code: "unsupported_media_type",
        detail: "Send the request body as JSON, with the header Content-Type: application/json.",
        headers: { [c.req.method === "PATCH" ? "Accept-Patch" : "Accept-Post"]: "application/json" },
      });
    default:
      return problemResponse(c, { status, code: `http_${status}`, detail: message });
  }
}

/** Maps anything thrown to a response: domain errors by their status, the rest as opaque 500s. */
export function errorToResponse(c: Context, err: unknown): Response {
  if (isDomainError(err)) return domainProblem(c, err);
  if (err instanceof HTTPException) return httpProblem(c, err.status, err.message);
  if (isDatabaseUnavailable(err)) {
    c.get("log")?.warn({ err }, "database unavailable");
    return problemResponse(c, {
      status: 503,
      code: "database_unavailable",
      detail: "The database is unavailable or busy. Nothing was changed; retry the request shortly.",
      headers: { "Retry-After": String(DATABASE_RETRY_AFTER_SECONDS) },
    });
  }
  // A value Postgres cannot take (out-of-range date, invalid text...) came from the request:
  // the validators should have caught it, but it is still the client's input, never a 500.
  const pgCode = (err as { code?: unknown } | null)?.code;
  if (typeof pgCode === "string" && /^22[0-9A-Z]{3}$/.test(pgCode)) {
    c.get("log")?.warn({ err }, "database refused a value from the request");
    return problemResponse(c, {
      status: 400,
      code: "invalid_value",
      detail: "A value in the request is out of range or not acceptable.",
    });
  }
  return problemResponse(c, {
    status: 500,
    code: "internal_error",
    detail: "Something went wrong on our side. The request id helps us find it.",
  });
}
