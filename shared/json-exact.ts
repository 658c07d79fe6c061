/**
 * JSON.parse turns 50.005 into the nearest double, and the digits the client sent are gone before
 * money.ts can judge them. Quoting every number literal first keeps its exact source text.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MINUS = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;

function isDigit(c: number): boolean {
  return c >= ZERO && c <= NINE;
}

function isHexDigit(c: number): boolean {
  return isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** JSON whitespace only (space, tab, LF, CR), exactly what JSON.parse skips; a BOM is not. */
function skipWhitespace(text: string, i: number): number {
  let j = i;
  for (;;) {
    const c = text.charCodeAt(j);
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) j++;
    else return j;
  }
}

/** Index just past the string starting at `i`, or -1 if there is no valid JSON string there. */
function scanString(text: string, i: number): number {
  if (text.charCodeAt(i) !== QUOTE) return -1;
  let j = i + 1;
  for (;;) {
    const c = text.charCodeAt(j);
    if (Number.isNaN(c) || c < 0x20) return -1;
    if (c === QUOTE) return j + 1;
    if (c === BACKSLASH) {
      const e = text.charCodeAt(j + 1);
      // " \ / b f n r t
      if (e === 0x22 || e === 0x5c || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e) j += 2;
      else if (e === 0x72 || e === 0x74) j += 2;
      else if (
        e === 0x75 &&
        isHexDigit(text.charCodeAt(j + 2)) &&
        isHexDigit(text.charCodeAt(j + 3)) &&
        isHexDigit(text.charCodeAt(j + 4)) &&
        isHexDigit(text.charCodeAt(j + 5))
      )
        j += 6;
      else return -1;
    } else {
      j++;
    }
  }
}

/** Index just past the number starting at `i` (RFC 8259 grammar), or -1. */
function scanNumber(text: string, i: number): number {
  let j = i;
  if (text.charCodeAt(j) === MINUS) j++;
  const first = text.charCodeAt(j);
  if (first === ZERO) j++;
  else if (isDigit(first)) while (isDigit(text.charCodeAt(j))) j++;
  else return -1;
  if (text.charCodeAt(j) === 0x2e) {
    j++;
    if (!isDigit(text.charCodeAt(j))) return -1;
    while (isDigit(text.charCodeAt(j))) j++;
  }
  const e = text.charCodeAt(j);
  if (e === 0x65 || e === 0x45) {
    j++;
    const s = text.charCodeAt(j);
    if (s === 0x2b || s === MINUS) j++;
    if (!isDigit(text.charCodeAt(j))) return -1;
    while (isDigit(text.charCodeAt(j))) j++;
  }
  return j;
}

/** Index just past `key:` and the whitespace after it, or -1. */
function scanKey(text: string, i: number): number {
  const end = scanString(text, i);
  if (end < 0) return -1;
  const colon = skipWhitespace(text, end);
  if (text.charCodeAt(colon) !== 0x3a) return -1;
  return skipWhitespace(text, colon + 1);
}

/**
 * In JSON a number literal starts the document or follows `:`, `,` or `[` (whitespace between):
 * text without such a place holds none. Inside strings it may match too; then the scan decides.
 */
const MAY_HOLD_NUMBER = /(?:^|[:,[])[\t\n\r ]*[-0-9]/;

/**
 * Returns `text` with every number literal (under an object key `quoteUnder` accepts; by default all)
 * replaced by a JSON string holding its exact source text.
 * It validates the whole document as it goes (iteratively, so deep nesting cannot overflow the stack)
 * and returns invalid JSON unchanged, so JSON.parse still rejects it: quoting blindly could turn
 * `{1: 2}` into the valid `{"1": "2"}`. Linear time.
 */
export function quoteJsonNumbers(
  text: string,
  quoteUnder: (key: string | null) => boolean = () => true,
): string {
  // Most bodies hold no number literal at all (amounts are sent as strings): nothing to quote.
  if (!MAY_HOLD_NUMBER.test(text)) return text;
  const parts: string[] = [];
  /** The object key the next value belongs to; null inside arrays and at the top. */
  let key: string | null = null;
  /** At the start of an object member (reads its key) or an array item (no key); -1 if invalid. */
  const enterMember = (isObject: boolean, at: number): number => {
    if (!isObject) {
      key = null;
      return at;
    }
    const end = scanKey(text, at);
    if (end >= 0) key = JSON.parse(text.slice(at, scanString(text, at))) as string;
    return end;
  };
  let copied = 0;
  /** Open containers, innermost last: true for an object, false for an array. */
  const stack: boolean[] = [];
  let i = skipWhitespace(text, 0);

  for (;;) {
    // A value starts at i.
    const c = text.charCodeAt(i);
    if (c === 0x7b || c === 0x5b) {
      const isObject = c === 0x7b;
      i = skipWhitespace(text, i + 1);
      if (text.charCodeAt(i) === (isObject ? 0x7d : 0x5d)) {
        i++;
      } else {
        stack.push(isObject);
        i = enterMember(isObject, i);
        if (i < 0) return text;
        continue;
      }
    } else if (c === QUOTE) {
      i = scanString(text, i);
      if (i < 0) return text;
    } else if (c === MINUS || isDigit(c)) {
      const end = scanNumber(text, i);
      if (end < 0) return text;
      if (quoteUnder(key)) {
        parts.push(text.slice(copied, i), '"', text.slice(i, end), '"');
        copied = end;
      }
      i = end;
    } else if (text.startsWith("true", i)) {
      i += 4;
    } else if (text.startsWith("false", i)) {
      i += 5;
    } else if (text.startsWith("null", i)) {
      i += 4;
    } else {
      return text;
    }

    // A value ended just before i: close containers until a comma asks for the next value.
    for (;;) {
      i = skipWhitespace(text, i);
      const isObject = stack.at(-1);
      if (isObject === undefined) {
        if (i !== text.length) return text;
        parts.push(text.slice(copied));
        return parts.join("");
      }
      const d = text.charCodeAt(i);
      if (d === 0x2c) {
        i = skipWhitespace(text, i + 1);
        i = enterMember(isObject, i);
        if (i < 0) return text;
        break;
      }
      if (d !== (isObject ? 0x7d : 0x5d)) return text;
      stack.pop();
      i++;
    }
  }
}
