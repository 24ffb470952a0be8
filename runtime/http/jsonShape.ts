import { ERRORS, HttpError } from "./errors";

/** How deep and how wide a JSON body may be; see {@link checkJsonShape}. */
export interface JsonShapeLimits {
  /** Arrays and objects inside each other, at most. */
  maxDepth: number;
  /** Object keys in the whole body, at most. */
  maxKeys: number;
}

/**
 * The defaults: far beyond what a prediction's input needs, far below what stalls a worker. Parsing
 * 8 MB of `[[[…` takes V8 over 2 s of one core (and the result cannot even be serialised again),
 * and an object with hundreds of thousands of keys turns into a slow dictionary; flat arrays and
 * many small objects parse at ~100 MB/s and are only bounded by the body size.
 */
export const JSON_SHAPE_LIMITS: JsonShapeLimits = { maxDepth: 64, maxKeys: 100_000 };

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;

/**
 * Refuses (400) a UTF-8 JSON text nested deeper than `maxDepth` or holding more than `maxKeys`
 * object keys, by one pass over its bytes before anything parses it. Outside strings every key is
 * followed by exactly one colon, so colons count keys; bytes of multi-byte UTF-8 characters never
 * equal these ASCII ones. Malformed text is left for the parser to refuse.
 */
export function checkJsonShape(body: Uint8Array, limits: JsonShapeLimits = JSON_SHAPE_LIMITS): void {
  let depth = 0;
  let keys = 0;
  let inString = false;
  for (let i = 0; i < body.length; i += 1) {
    const byte = body[i];
    if (inString) {
      if (byte === BACKSLASH) i += 1;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) inString = true;
    else if (byte === OPEN_ARRAY || byte === OPEN_OBJECT) {
      depth += 1;
      if (depth > limits.maxDepth)
        throw new HttpError(
          ERRORS.BUDGETML_JSON_TOO_DEEP,
          `JSON nested deeper than ${limits.maxDepth} levels; flatten the payload`,
        );
    } else if (byte === CLOSE_ARRAY || byte === CLOSE_OBJECT) depth -= 1;
    else if (byte === COLON && ++keys > limits.maxKeys)
      throw new HttpError(
        ERRORS.BUDGETML_JSON_TOO_MANY_KEYS,
        `JSON with more than ${limits.maxKeys} object keys; send fewer`,
      );
  }
}
