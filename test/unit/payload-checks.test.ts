import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { IngestErrorType } from '../../shared/errors.ts';
import { checkPayload, parseJson } from '../../activities/payload-checks.ts';

function failureOf(fn: () => unknown): ApplicationFailure {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApplicationFailure) return err;
    throw err;
  }
  throw new Error('expected an ApplicationFailure');
}

const opts = { maxPeople: 1000 };

describe('parseJson', () => {
  it('rejects a body that is not JSON as a non-retryable MalformedPayload', () => {
    const f = failureOf(() => parseJson('{"message": "success", "people": [{"name": "Trunc'));
    expect(f.type).toBe(IngestErrorType.MalformedPayload);
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toMatch(/not valid JSON/);
  });
});

describe('checkPayload', () => {
  it('accepts the open-notify shape', () => {
    const v = checkPayload(
      { message: 'success', number: 2, people: [{ name: 'Oleg Kononenko', craft: 'ISS' }, { name: 'Ye Guangfu', craft: 'Tiangong' }] },
      opts,
    );
    expect(v.valid.map((r) => r.person.name)).toEqual(['Oleg Kononenko', 'Ye Guangfu']);
    expect(v.rejects).toEqual([]);
    expect(v.numberMismatch).toBe(false);
  });

  it('rejects invalid records one by one, with reasons, and keeps the valid ones', () => {
    const people = [
      { name: 'Valid Person', craft: 'ISS' },
      { name: '', craft: 'ISS' },
      { name: 'No Craft' },
      { name: 7, craft: 'ISS' },
      'just text',
      { name: 'Ctrl\u0007Char', craft: 'ISS' },
      { name: 'Also Valid', craft: 'Tiangong', extra: 'ignored' },
    ];
    const v = checkPayload({ message: 'success', number: people.length, people }, opts);
    expect(v.valid.map((r) => r.index)).toEqual([0, 6]);
    expect(v.rejects.map((r) => r.index)).toEqual([1, 2, 3, 4, 5]);
    expect(v.rejects[0]?.reason).toMatch(/name: must not be empty/);
    expect(v.rejects[1]?.reason).toMatch(/craft:/);
    expect(v.rejects[2]?.reason).toMatch(/name:.*number/);
    expect(v.rejects[4]?.reason).toMatch(/control characters/);
    // The record is kept exactly as received for the dead-letter table.
    expect(v.rejects[3]?.record).toBe('just text');
  });

  it('reports (does not fail on) a number that disagrees with the list', () => {
    const v = checkPayload({ message: 'success', number: 5, people: [{ name: 'A B', craft: 'ISS' }] }, opts);
    expect(v.numberMismatch).toBe(true);
    expect(v.declaredNumber).toBe(5);
    expect(v.listed).toBe(1);
  });

  it.each([
    ['people missing', { message: 'success', number: 0 }, /people/],
    ['people not a list', { message: 'success', number: 0, people: {} }, /people/],
    ['number negative', { message: 'success', number: -1, people: [] }, /number/],
    ['message not success', { message: 'failure', number: 0, people: [] }, /"success", got "failure"/],
    ['not an object', [1, 2, 3], /expected object/],
  ])('fails the whole payload as non-retryable InvalidPayload when %s', (_label, payload, pattern) => {
    const f = failureOf(() => checkPayload(payload, opts));
    expect(f.type).toBe(IngestErrorType.InvalidPayload);
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toMatch(pattern);
  });

  it('bounds the list length', () => {
    const people = Array.from({ length: 3 }, (_, i) => ({ name: `P ${i}`, craft: 'ISS' }));
    const f = failureOf(() => checkPayload({ message: 'success', number: 3, people }, { maxPeople: 2 }));
    expect(f.type).toBe(IngestErrorType.InvalidPayload);
    expect(f.message).toMatch(/ASTROS_MAX_PEOPLE=2/);
  });
});
