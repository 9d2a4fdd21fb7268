/**
 * The little SQL recognition the HTTP layer needs: is this an INSERT, where
 * does inline INSERT data begin, which FORMAT does a query ask for. These are
 * deliberately shallow: the engine parses the real query.
 */

/** Skip whitespace and comments (`-- ...`, `# ...`, `/* ... *\/`) at `pos`. */
function skipSpaceAndComments(text: string, pos: number): number {
  for (;;) {
    while (pos < text.length && /\s/.test(text[pos]!)) pos++;
    if (text.startsWith('--', pos) || text.startsWith('#', pos)) {
      const nl = text.indexOf('\n', pos);
      pos = nl === -1 ? text.length : nl + 1;
    } else if (text.startsWith('/*', pos)) {
      const end = text.indexOf('*/', pos + 2);
      pos = end === -1 ? text.length : end + 2;
    } else {
      return pos;
    }
  }
}

export function isInsert(text: string): boolean {
  const pos = skipSpaceAndComments(text, 0);
  return /^INSERT\b/i.test(text.slice(pos, pos + 7));
}

/** Look at no more than this much of a body for the INSERT statement in front of its data. */
const maxStatementBytes = 1 << 20;

/**
 * For a body like `INSERT INTO t FORMAT Native\n<bytes>`, split statement and
 * data the way ClickHouse does: data starts after the first newline following
 * the format name, or after the whitespace if there is no newline. Returns
 * undefined when the body is not an INSERT with a FORMAT clause (then it is
 * run as query text, e.g. `INSERT ... VALUES (...)`).
 */
export function splitInlineInsert(body: Buffer): { statement: string; data: Buffer } | undefined {
  const head = body.subarray(0, Math.min(body.length, maxStatementBytes)).toString('latin1');
  if (!isInsert(head)) return undefined;
  const match = /\bFORMAT\s+([A-Za-z_][A-Za-z0-9_]*)/i.exec(head);
  if (!match) return undefined;
  const before = head.slice(0, match.index);
  if (/\bVALUES\b/i.test(before) || match[1]!.toLowerCase() === 'values') return undefined;
  const statementEnd = match.index + match[0].length;
  let pos = statementEnd;
  while (pos < head.length && (head[pos] === ' ' || head[pos] === '\t' || head[pos] === '\r')) pos++;
  if (head[pos] === '\n') pos++;
  return { statement: head.slice(0, statementEnd), data: body.subarray(pos) };
}

/** The FORMAT a query names at its end (optionally followed by SETTINGS), if any. */
export function formatClauseOf(text: string): string | undefined {
  const tail = text.slice(-4096).replace(/[\s;]+$/, '');
  const m =
    /\bFORMAT\s+([A-Za-z_][A-Za-z0-9_]*)$/i.exec(tail) ??
    /\bFORMAT\s+([A-Za-z_][A-Za-z0-9_]*)\s+SETTINGS\b[^()]*$/i.exec(tail);
  return m?.[1];
}

/** SQL string literal, with the escaping ClickHouse's parser undoes. */
export function quoteString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export function quoteIdentifier(name: string): string {
  return `\`${name.replace(/\\/g, '\\\\').replace(/`/g, '\\`')}\``;
}
