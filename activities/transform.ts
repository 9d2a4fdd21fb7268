/**
 * Transformation of checked records into rows (pure logic, no I/O).
 *
 * - Names: Unicode NFC, trimmed, inner whitespace collapsed to one space.
 * - Crafts: the same, and known crafts get their canonical spelling
 *   ("iss" -> "ISS"), so a change of case upstream is not a craft change.
 * - Key: `person_key` is derived from the normalised name only (accents
 *   removed, lower case). It is the table's primary key, so it must be stable
 *   for a person across fetches: a craft change keeps the key (an UPDATE of the
 *   same row), a person who leaves and comes back gets the same key again.
 * - Duplicates (two records with the same key in one payload): the first in
 *   list order is kept (the feed's order is stable, and that is the choice a
 *   reader of the payload expects); the others are dead-lettered as
 *   duplicates, naming the kept record and what differed.
 */
import type { CheckedPayload, RawPerson, RecordReject } from './payload-checks.ts';

export interface Person {
  personKey: string;
  name: string;
  craft: string;
}

export interface TransformResult {
  /** Sorted by personKey: the order rows are written in, deterministic for a given payload. */
  people: Person[];
  duplicates: RecordReject[];
  /** Names that give no usable key (nothing but combining marks, or a key past the column's 200 characters). */
  unkeyable: RecordReject[];
}

/** astronauts.person_key's check constraint (db/migrations/postgres/010_astronauts.sql). */
export const MAX_KEY_LENGTH = 200;

const KNOWN_CRAFTS = ['ISS', 'Tiangong'];
const canonicalCraft = new Map(KNOWN_CRAFTS.map((c) => [c.toLowerCase(), c]));

export function normaliseText(value: string): string {
  return value.normalize('NFC').trim().replace(/\s+/gu, ' ');
}

export function normaliseCraft(value: string): string {
  const text = normaliseText(value);
  return canonicalCraft.get(text.toLowerCase()) ?? text;
}

/** Stable key for a person: accent-free, lower-case, single-spaced name. */
export function personKey(name: string): string {
  return normaliseText(name)
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .normalize('NFC');
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function transformPeople(valid: { index: number; person: RawPerson }[]): TransformResult {
  const groups = new Map<string, { index: number; person: Person; record: RawPerson }[]>();
  const unkeyable: RecordReject[] = [];
  for (const { index, person } of valid) {
    const name = normaliseText(person.name);
    const row: Person = { personKey: personKey(name), name, craft: normaliseCraft(person.craft) };
    if (row.personKey === '' || row.personKey.length > MAX_KEY_LENGTH) {
      const why = row.personKey === '' ? 'is empty' : `has ${row.personKey.length} characters, more than ${MAX_KEY_LENGTH}`;
      unkeyable.push({ index, record: person, reason: `invalid record: name: its key (accents removed, lower case) ${why}` });
      continue;
    }
    const group = groups.get(row.personKey);
    if (group) group.push({ index, person: row, record: person });
    else groups.set(row.personKey, [{ index, person: row, record: person }]);
  }
  const people: Person[] = [];
  const duplicates: RecordReject[] = [];
  for (const group of groups.values()) {
    // Groups are filled in list order: the first element is the first occurrence.
    const [kept, ...rest] = group;
    if (!kept) continue;
    people.push(kept.person);
    for (const dup of rest) {
      const differences: string[] = [];
      if (dup.person.name !== kept.person.name) differences.push(`name written "${dup.person.name}"`);
      if (dup.person.craft !== kept.person.craft) differences.push(`craft "${dup.person.craft}" (kept "${kept.person.craft}")`);
      duplicates.push({
        index: dup.index,
        record: dup.record,
        reason: `duplicate of people[${kept.index}] (key "${kept.person.personKey}")${differences.length > 0 ? `; differs by ${differences.join(', ')}` : ''}`,
      });
    }
  }
  people.sort((a, b) => compare(a.personKey, b.personKey));
  duplicates.sort((a, b) => a.index - b.index);
  return { people, duplicates, unkeyable };
}

/** A checked payload as applySnapshot takes it: rows, dead letters (invalid, unkeyable, duplicates, by index) and counts. */
export function snapshotOf(checked: CheckedPayload) {
  const { people, duplicates, unkeyable } = transformPeople(checked.valid);
  const invalid = [...checked.rejects, ...unkeyable];
  const rejects = [...invalid, ...duplicates].sort((a, b) => a.index - b.index);
  return {
    invalid,
    duplicates,
    apply: { declaredNumber: checked.declaredNumber, fetched: checked.listed, numberMismatch: checked.numberMismatch, people, rejects, duplicates: duplicates.length },
  };
}
