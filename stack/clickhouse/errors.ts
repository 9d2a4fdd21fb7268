/**
 * ClickHouse-style errors for the HTTP interface: the body text a server
 * prints ("Code: N. DB::Exception: ... (NAME) (version ...)") and the HTTP
 * status a server maps each code to.
 */

/** An error the HTTP layer itself raises, with the ClickHouse code a server would use. */
export class ClickHouseHttpError extends Error {
  override name = 'ClickHouseHttpError';
  constructor(
    readonly code: number,
    readonly codeName: string,
    message: string,
  ) {
    super(message);
  }
}

export const codes = {
  BAD_ARGUMENTS: [36, 'BAD_ARGUMENTS'],
  UNKNOWN_SETTING: [115, 'UNKNOWN_SETTING'],
  CANNOT_DECOMPRESS: [271, 'CANNOT_DECOMPRESS'],
  SESSION_NOT_FOUND: [372, 'SESSION_NOT_FOUND'],
  UNKNOWN_COMPRESSION_METHOD: [638, 'UNKNOWN_COMPRESSION_METHOD'],
  HTTP_LENGTH_REQUIRED: [381, 'HTTP_LENGTH_REQUIRED'],
  NOT_IMPLEMENTED: [48, 'NOT_IMPLEMENTED'],
  SYNTAX_ERROR: [62, 'SYNTAX_ERROR'],
  UNKNOWN_EXCEPTION: [1002, 'UNKNOWN_EXCEPTION'],
} as const satisfies Record<string, readonly [number, string]>;

export function httpError(kind: keyof typeof codes, message: string): ClickHouseHttpError {
  const [code, name] = codes[kind];
  return new ClickHouseHttpError(code, name, message);
}

/** The subset of ClickHouse's exception-code → HTTP status mapping that matters to clients. */
const status400 = new Set([
  6, 25, 26, 27, 32, 33, 34, 35, 36, 38, 41, 42, 43, 44, 46, 47, 53, 62, 69, 70, 72, 73, 115, 117, 130, 131, 179, 190, 271, 352,
  367, 456, 457, 638,
]);
const status401 = new Set([192, 193, 194, 516]);
const status403 = new Set([164, 497]);
const status404 = new Set([16, 60, 81, 107, 372]);

export function httpStatusFor(code: number): number {
  if (status400.has(code)) return 400;
  if (status401.has(code)) return 401;
  if (status403.has(code)) return 403;
  if (status404.has(code)) return 404;
  if (code === 373) return 423; // SESSION_IS_LOCKED
  if (code === 381) return 411;
  if (code === 159) return 504; // TIMEOUT_EXCEEDED
  if (code === 241) return 507; // MEMORY_LIMIT_EXCEEDED
  return 500;
}

export interface FormattedError {
  code: number;
  status: number;
  body: string;
}

const leadingCode = /^Code: (\d+)\. /;

/**
 * Turn whatever the engine or the HTTP layer threw into the text a ClickHouse
 * server sends. chDB nests the same prefix and suffix several times
 * ("Code: 27. DB::Exception: Code: 27. DB::Exception: ... (X) (version v). (X)");
 * that is collapsed to the single form a server prints.
 */
export function formatError(err: unknown, serverVersion: string): FormattedError {
  if (err instanceof ClickHouseHttpError) {
    return {
      code: err.code,
      status: httpStatusFor(err.code),
      body: `Code: ${err.code}. DB::Exception: ${err.message}. (${err.codeName}) (version ${serverVersion} (official build))\n`,
    };
  }
  let message = err instanceof Error ? err.message : String(err);
  const explicit = (err as { clickhouseCode?: unknown } | null)?.clickhouseCode;
  const parsed = leadingCode.exec(message);
  const code = typeof explicit === 'number' ? explicit : parsed ? Number(parsed[1]) : 1002;
  if (!parsed) {
    message = `Code: ${code}. DB::Exception: ${message}. (${code === 1002 ? 'UNKNOWN_EXCEPTION' : 'UNKNOWN'})`;
  }
  // Collapse repeated "Code: N. DB::Exception: " prefixes.
  message = message.replace(/^(Code: (\d+)\. DB::Exception: )(?:Code: \2\. DB::Exception: )+/, '$1');
  // Collapse the repeated " (NAME) (version v). (NAME)" tails to a single " (NAME)".
  message = message.replace(/( \([A-Z][A-Z0-9_]*\))(?: \(version [^()]*(?:\([^()]*\))?[^()]*\)\. \([A-Z][A-Z0-9_]*\))+\s*$/, '$1');
  message = message.trimEnd();
  if (!/\(version [^)]*/.test(message.slice(-80))) message += ` (version ${serverVersion} (official build))`;
  return { code, status: httpStatusFor(code), body: `${message}\n` };
}
