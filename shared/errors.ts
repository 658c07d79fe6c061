/**
 * One error hierarchy for the whole domain. Every failure the API or the workers can meet on
 * purpose is a DomainError with a stable machine `code`; the API maps it to problem+json in one
 * place (api/problem.ts). Where trying again later may help (throttled, a dependency down, the same
 * request still in progress), the error carries a Retry-After header saying when.
 */

export interface FieldError {
  /** JSON pointer into the request, e.g. "/amount". */
  pointer: string;
  detail: string;
}

export abstract class DomainError extends Error {
  abstract readonly status: number;
  readonly code: string;
  readonly errors: FieldError[];
  /** Extra response headers (e.g. Retry-After). */
  readonly headers: Record<string, string>;

  constructor(
    code: string,
    message: string,
    opts: { errors?: FieldError[]; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.errors = opts.errors ?? [];
    this.headers = opts.headers ?? {};
  }
}

/** 400: the request itself is malformed (bad JSON, missing header). */
export class BadRequestError extends DomainError {
  readonly status = 400;
}

/** 401: no or invalid credentials. */
export class UnauthorizedError extends DomainError {
  readonly status = 401;
  constructor(code = "unauthorized", message = "Valid credentials are required.") {
    super(code, message, { headers: { "WWW-Authenticate": 'Bearer realm="api"' } });
  }
}

/** 403: authenticated but the role does not allow it. */
export class ForbiddenError extends DomainError {
  readonly status = 403;
  constructor(code = "forbidden", message = "Your role does not allow this action.") {
    super(code, message);
  }
}

/** 404: does not exist, or the caller may not see it. */
export class NotFoundError extends DomainError {
  readonly status = 404;
  /** `pointer` names the request field that referred to the missing thing, if any. */
  constructor(resource: string, code = "resource_missing", pointer?: string) {
    super(code, `No such ${resource}.`, {
      errors: pointer ? [{ pointer, detail: `No such ${resource}, or not one you may use.` }] : [],
    });
  }
}

/** 409: conflicts with the current state of a resource (email taken, key in use). */
export class ConflictError extends DomainError {
  readonly status = 409;
}

/** 422: well-formed but not acceptable (validation, business rule at acceptance). */
export class ValidationError extends DomainError {
  readonly status = 422;
  static field(pointer: string, detail: string, code = "validation_failed"): ValidationError {
    return new ValidationError(code, detail, { errors: [{ pointer, detail }] });
  }
}

/** 429: throttled. */
export class RateLimitedError extends DomainError {
  readonly status = 429;
  /** `headers`: more to send along (e.g. the RateLimit fields). */
  constructor(retryAfterSeconds: number, headers: Record<string, string> = {}) {
    super("rate_limited", "Too many requests; try again later.", {
      headers: { ...headers, "Retry-After": String(Math.max(1, Math.ceil(retryAfterSeconds))) },
    });
  }
}

/** 503: a dependency is down; the same request may succeed later. */
export class UnavailableError extends DomainError {
  readonly status = 503;
}

/**
 * A business decline met while posting (insufficient funds, closed account...). Not an HTTP
 * error: the payment ends `failed` with this code.
 */
export class DeclineError extends DomainError {
  readonly status = 422;
}

export function isDomainError(err: unknown): err is DomainError {
  return err instanceof DomainError;
}
