/**
 * Splits a ClickHouse SQL script into the statements it holds, for the HTTP
 * interface (one statement per request). A `;` separates statements only where
 * ClickHouse's own lexer (src/Parsers/Lexer.cpp) would read a semicolon, so not
 * inside:
 *   - a '…' string, a "…" or `…` quoted identifier: the quote is escaped by
 *     doubling it ('it''s') or with a backslash ('it\'s'; '\\' is a backslash);
 *   - a $tag$…$tag$ heredoc (the tag may be empty: $$…$$);
 *   - a comment: `--`, `//`, `# ` and `#!` to the end of the line, and
 *     `/* … *\/`, which nests.
 * Comments are dropped (a line that only held a comment goes with it), so a
 * trailing comment does not become a statement of its own. An unterminated
 * string, identifier or block comment is an error naming its line.
 */

export function statements(sql: string): string[] {
  const result: string[] = [];
  let current = '';
  let i = 0;
  const flush = () => {
    const s = current.trim();
    if (s.length > 0) result.push(s);
    current = '';
  };
  while (i < sql.length) {
    const c = sql[i]!;
    const next = sql[i + 1];
    // Strings, quoted identifiers and heredocs are copied as they are.
    const verbatimEnd =
      c === "'" || c === '"' || c === '`' ? quotedEnd(sql, i) : c === '$' && !/[\w$]/.test(sql[i - 1] ?? '') ? heredocEnd(sql, i) : undefined;
    if (verbatimEnd !== undefined) {
      current += sql.slice(i, verbatimEnd);
      i = verbatimEnd;
    } else if ((c === '-' && next === '-') || (c === '/' && next === '/') || (c === '#' && (next === ' ' || next === '!'))) {
      const eol = sql.indexOf('\n', i);
      i = eol === -1 ? sql.length : eol;
      current = current.replace(/[ \t]+$/, '');
      if (current === '' || current.endsWith('\n')) i += 1; // the comment had the line to itself: drop the line
    } else if (c === '/' && next === '*') {
      i = blockCommentEnd(sql, i);
      current += ' ';
    } else if (c === ';') {
      flush();
      i += 1;
    } else {
      current += c;
      i += 1;
    }
  }
  flush();
  return result;
}

function lineOf(sql: string, pos: number): number {
  return sql.slice(0, pos).split('\n').length;
}

/** Index just past the closing quote of the string or quoted identifier opening at `start`. */
function quotedEnd(sql: string, start: number): number {
  const quote = sql[start]!;
  let i = start + 1;
  while (i < sql.length) {
    const c = sql[i];
    if (c === '\\') {
      i += 2;
    } else if (c === quote) {
      if (sql[i + 1] !== quote) return i + 1;
      i += 2;
    } else {
      i += 1;
    }
  }
  const what = quote === "'" ? 'string' : `${quote}-quoted identifier`;
  throw new Error(`unterminated ${what} starting on line ${lineOf(sql, start)}`);
}

/** Index just past the `*\/` that closes the (possibly nested) comment opening at `start`. */
function blockCommentEnd(sql: string, start: number): number {
  let depth = 0;
  let i = start;
  while (i + 1 < sql.length) {
    const pair = sql.slice(i, i + 2);
    if (pair === '/*') {
      depth += 1;
      i += 2;
    } else if (pair === '*/') {
      depth -= 1;
      i += 2;
      if (depth === 0) return i;
    } else {
      i += 1;
    }
  }
  throw new Error(`unterminated /* comment starting on line ${lineOf(sql, start)}`);
}

/** Index just past a $tag$…$tag$ heredoc opening at `start`, or undefined when there is none (as in ClickHouse's lexer). */
function heredocEnd(sql: string, start: number): number | undefined {
  const tagEnd = sql.indexOf('$', start + 1);
  if (tagEnd === -1) return undefined;
  const tag = sql.slice(start, tagEnd + 1);
  const close = sql.indexOf(tag, tagEnd + 1);
  return close === -1 ? undefined : close + tag.length;
}
