import { describe, expect, it } from 'vitest';
import { ddlVars, listMigrations, render, statements } from '../../connectors/clickhouse/migrate.ts';

describe('statements (ClickHouse statement splitter)', () => {
  it('splits on every semicolon outside strings, identifiers and comments, and drops empty statements', () => {
    expect(statements('CREATE DATABASE a;\n\nSELECT 1; SELECT 2;;\n  SELECT 3')).toEqual(['CREATE DATABASE a', 'SELECT 1', 'SELECT 2', 'SELECT 3']);
    expect(statements('')).toEqual([]);
    expect(statements(' ;\n; ')).toEqual([]);
  });

  it("keeps semicolons inside single-quoted strings, with '' and \\' escapes", () => {
    expect(statements("SELECT 'a;b'; SELECT 2")).toEqual(["SELECT 'a;b'", 'SELECT 2']);
    expect(statements("SELECT 'it''s; fine'; SELECT 2")).toEqual(["SELECT 'it''s; fine'", 'SELECT 2']);
    expect(statements("SELECT 'it\\'s; fine'; SELECT 2")).toEqual(["SELECT 'it\\'s; fine'", 'SELECT 2']);
    // An escaped backslash does not escape the closing quote.
    expect(statements("SELECT 'C:\\\\'; SELECT ';'")).toEqual(["SELECT 'C:\\\\'", "SELECT ';'"]);
    // A string spanning lines, with a semicolon at a line end (the old splitter cut here).
    expect(statements("CREATE TABLE t (s String DEFAULT 'one;\ntwo') ENGINE = Memory;\nSELECT 1")).toEqual([
      "CREATE TABLE t (s String DEFAULT 'one;\ntwo') ENGINE = Memory",
      'SELECT 1',
    ]);
  });

  it('keeps semicolons inside backquoted and double-quoted identifiers', () => {
    expect(statements('SELECT 1 AS `a;b`; SELECT 1 AS "c;d"')).toEqual(['SELECT 1 AS `a;b`', 'SELECT 1 AS "c;d"']);
    expect(statements('SELECT 1 AS `a``;b`; SELECT 1 AS "c"";d"; SELECT 3')).toEqual(['SELECT 1 AS `a``;b`', 'SELECT 1 AS "c"";d"', 'SELECT 3']);
    expect(statements("SELECT `it's;`; SELECT 2")).toEqual(["SELECT `it's;`", 'SELECT 2']);
  });

  it('drops -- comments, including a semicolon or a quote in them, and the lines they had to themselves', () => {
    const sql = [
      "-- a header with a semicolon; and ClickHouse's apostrophe",
      'CREATE TABLE t',
      '(',
      "    a String, -- trailing; it's a comment",
      '    -- a line of its own;',
      '    b String',
      ') ENGINE = Memory;',
      '-- a trailing comment; not a statement',
    ].join('\n');
    expect(statements(sql)).toEqual(['CREATE TABLE t\n(\n    a String,\n    b String\n) ENGINE = Memory']);
    expect(statements("SELECT '-- not a comment;'")).toEqual(["SELECT '-- not a comment;'"]);
    expect(statements('SELECT 1 // also a comment; here\n; # and this;\nSELECT 2')).toEqual(['SELECT 1', 'SELECT 2']);
  });

  it('drops /* */ comments, nested ones too, with semicolons and quotes inside', () => {
    expect(statements("SELECT /* not; here's */ 1; SELECT 2")).toEqual(['SELECT   1', 'SELECT 2']);
    expect(statements('SELECT 1 /* outer /* inner; */ still; comment */; SELECT 2')).toEqual(['SELECT 1', 'SELECT 2']);
    expect(statements("SELECT '/* not a comment; */'")).toEqual(["SELECT '/* not a comment; */'"]);
    expect(statements('/* only a comment; */')).toEqual([]);
  });

  it('keeps semicolons inside heredocs', () => {
    expect(statements('SELECT $$a;b$$; SELECT $x$c;$$;d$x$; SELECT 3')).toEqual(['SELECT $$a;b$$', 'SELECT $x$c;$$;d$x$', 'SELECT 3']);
  });

  it('names the line of an unterminated string, identifier or comment', () => {
    expect(() => statements("SELECT 1;\nSELECT 'oops;\n")).toThrow(/unterminated string starting on line 2/);
    expect(() => statements('SELECT `oops')).toThrow(/unterminated `-quoted identifier starting on line 1/);
    expect(() => statements("SELECT 'ends in a backslash\\'")).toThrow(/unterminated string/);
    expect(() => statements('SELECT 1;\n\n/* /* */ oops')).toThrow(/unterminated \/\* comment starting on line 3/);
  });

  it('splits the shipped clickhouse-ddl files exactly as the previous line-based splitter did', () => {
    // The previous rule (semicolon at a line end, `--` lines removed), kept here to show
    // that the files live stacks already applied send the same statements.
    const previous = (sql: string) =>
      sql
        .split('\n')
        .filter((l) => !l.trimStart().startsWith('--'))
        .join('\n')
        .split(/;\s*(?:\n|$)/)
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
    const files = listMigrations();
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const sql = render(file, ddlVars());
      expect(statements(sql), file.name).toEqual(previous(sql));
    }
  });
});
