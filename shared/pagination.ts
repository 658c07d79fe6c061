import { ValidationError } from "./errors.ts";

/** Opaque cursors: base64url of the last item's sort key. Garbage in: a 422, never a 500. */
export function encodeCursor(key: string | bigint): string {
  return Buffer.from(String(key), "utf8").toString("base64url");
}

export function decodeCursor(cursor: string | undefined | null, pattern: RegExp): string | null {
  if (cursor === undefined || cursor === null || cursor === "") return null;
  const key = Buffer.from(cursor, "base64url").toString("utf8");
  if (!pattern.test(key))
    throw ValidationError.field("/query/cursor", "This cursor is not valid.", "invalid_cursor");
  return key;
}

export interface Page<T> {
  data: T[];
  has_more: boolean;
  next_cursor: string | null;
}

/** Builds a page from `limit + 1` rows fetched newest first. */
export function pageOf<R, T>(
  rows: R[],
  limit: number,
  keyOf: (r: R) => string | bigint,
  map: (r: R) => T,
): Page<T> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  const hasMore = rows.length > limit;
  return {
    data: items.map(map),
    has_more: hasMore,
    next_cursor: hasMore && last ? encodeCursor(keyOf(last)) : null,
  };
}
