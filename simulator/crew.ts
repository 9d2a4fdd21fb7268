/**
 * Deterministic crew rotations for the astronauts API simulator.
 *
 * The crew at a step is a pure function of (seed, size, step), cheap to
 * compute for any step without replaying earlier ones:
 *  - there are `size` seats; seat i has its own tenure length (4..8 steps)
 *    and phase, both derived from the seed;
 *  - each tenure of seat i is held by one of three people (i, i+size,
 *    i+2*size) in turn, so a person departs, and returns two tenures later;
 *  - a quarter of the tenures move to the other craft halfway through (a craft
 *    change of the same person).
 * No two seats can seat the same person, so a generated payload never holds
 * duplicates (faults add those on purpose).
 */

export interface CrewMember {
  name: string;
  craft: string;
}

const FIRST = [
  'Aiko', 'Amara', 'Anders', 'Bruno', 'Chen', 'Dara', 'Elena', 'Emeka', 'Farah', 'Gustavo',
  'Hana', 'Ivan', 'Jasmin', 'Jiro', 'Kalinda', 'Kofi', 'Lena', 'Liang', 'Maya', 'Mateo',
  'Nadia', 'Nikolai', 'Oksana', 'Omar', 'Priya', 'Rafael', 'Rin', 'Sasha', 'Sofia', 'Tariq',
  'Tomas', 'Ulla', 'Valentina', 'Wei', 'Xenia', 'Yusuf', 'Zara', 'Zoltan',
];
const LAST = [
  'Abara', 'Berg', 'Castillo', 'Dubois', 'Eriksen', 'Fujita', 'Garcia', 'Haddad', 'Ivanova', 'Jensen',
  'Kowalski', 'Larsen', 'Moreau', 'Nakamura', 'Okafor', 'Petrov', 'Quinn', 'Rossi', 'Sato', 'Tanaka',
  'Usman', 'Varga', 'Wang', 'Xu', 'Yamada', 'Zhang', 'Novak', 'Kim', 'Silva', 'Costa', 'Moghbeli', 'Kononenko',
];
export const CRAFTS = ['ISS', 'Tiangong'] as const;

/** A small integer hash (splitmix-style mixing, 32 bits): deterministic for a seed and a few integers. */
export function hash(...values: number[]): number {
  let h = 0x9e3779b9;
  for (const v of values) {
    h = Math.imul(h ^ (v | 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/** A unique, human-looking name for a person number (a bijection: different numbers, different names). */
export function personName(id: number, seed: number): string {
  const f = FIRST.length;
  const l = LAST.length;
  const first = FIRST[(id + seed) % f] ?? 'Alex';
  // (id mod f) fixes the first name; given it, the last name fixes floor(id / f) mod l: still a bijection.
  const last = LAST[(Math.floor(id / f) + 7 * (id % f) + seed) % l] ?? 'Doe';
  const generation = Math.floor(id / (f * l));
  return generation === 0 ? `${first} ${last}` : `${first} ${last} ${generation + 1}`;
}

export interface SeatState {
  person: number;
  craft: string;
}

export function seatAt(seed: number, size: number, seat: number, step: number): SeatState {
  const period = 4 + (hash(seed, seat, 1) % 5);
  const phase = hash(seed, seat, 2) % period;
  const t = step + phase;
  const tenure = Math.floor(t / period);
  const person = seat + size * (tenure % 3);
  const baseIndex = hash(seed, seat, tenure, 3) % 10 < 7 ? 0 : 1;
  const moves = hash(seed, seat, tenure, 4) % 4 === 0 && t % period >= Math.ceil(period / 2);
  const craft = CRAFTS[moves ? 1 - baseIndex : baseIndex] ?? 'ISS';
  return { person, craft };
}

export function crewAt(seed: number, size: number, step: number): CrewMember[] {
  const crew: CrewMember[] = new Array<CrewMember>(size);
  for (let seat = 0; seat < size; seat++) {
    const { person, craft } = seatAt(seed, size, seat, step);
    crew[seat] = { name: personName(person, seed), craft };
  }
  return crew;
}

/** Records that must fail per-record validation, each for a different reason. */
export const INVALID_RECORDS: unknown[] = [
  { name: '', craft: 'ISS' },
  { name: 'Nameless Craft' },
  { name: 42, craft: 'ISS' },
  { name: 'Null Craft', craft: null },
  'not an object',
  { name: 'Tab\tIn Name', craft: 'ISS' },
];
