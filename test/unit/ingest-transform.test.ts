import { describe, expect, it } from 'vitest';
import { normaliseCraft, normaliseText, personKey, transformPeople } from '../../activities/transform.ts';

const rows = (list: { name: string; craft: string }[]) => list.map((person, index) => ({ index, person }));

describe('normalisation', () => {
  it('trims and collapses whitespace in names', () => {
    expect(normaliseText('  Jasmin \t  Moghbeli ')).toBe('Jasmin Moghbeli');
  });

  it('gives known crafts their canonical spelling and keeps unknown ones', () => {
    expect(normaliseCraft(' iss ')).toBe('ISS');
    expect(normaliseCraft('TIANGONG')).toBe('Tiangong');
    expect(normaliseCraft(' Crew  Dragon ')).toBe('Crew Dragon');
  });

  it('derives one key for spellings that differ only in case, accents, spacing or Unicode form', () => {
    const composed = 'Andr\u00e9 Kuipers';
    const decomposed = 'Andre\u0301 Kuipers';
    expect(personKey(composed)).toBe('andre kuipers');
    expect(personKey(decomposed)).toBe('andre kuipers');
    expect(personKey('  ANDRE   kuipers ')).toBe('andre kuipers');
  });
});

describe('transformPeople', () => {
  it('returns rows sorted by key regardless of payload order', () => {
    const a = transformPeople(rows([{ name: 'Zed Z', craft: 'ISS' }, { name: 'Amy A', craft: 'Tiangong' }]));
    const b = transformPeople(rows([{ name: 'Amy A', craft: 'Tiangong' }, { name: 'Zed Z', craft: 'ISS' }]));
    expect(a).toEqual(b);
    expect(a.people.map((p) => p.personKey)).toEqual(['amy a', 'zed z']);
  });

  it('keeps the first of duplicate records and rejects the others, saying what differed', () => {
    const r = transformPeople(
      rows([
        { name: 'Amy A', craft: 'ISS' },
        { name: 'Bob B', craft: 'ISS' },
        { name: '  AMY   a ', craft: 'Tiangong' },
        { name: 'Amy A', craft: 'ISS' },
      ]),
    );
    expect(r.people).toEqual([
      { personKey: 'amy a', name: 'Amy A', craft: 'ISS' },
      { personKey: 'bob b', name: 'Bob B', craft: 'ISS' },
    ]);
    expect(r.duplicates.map((d) => d.index)).toEqual([2, 3]);
    expect(r.duplicates[0]?.reason).toMatch(/duplicate of people\[0\].*name written "AMY a".*craft "Tiangong" \(kept "ISS"\)/);
    expect(r.duplicates[1]?.reason).toBe('duplicate of people[0] (key "amy a")');
    // The dead-lettered record is the raw one, not the normalised one.
    expect(r.duplicates[0]?.record).toEqual({ name: '  AMY   a ', craft: 'Tiangong' });
  });
});
