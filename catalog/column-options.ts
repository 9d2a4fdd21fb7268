/**
 * A declaration's column transforms checked against the Postgres catalog, and
 * the same transforms as validation recomputes them (ValidationSpec.source.transforms).
 */
import type { ColumnTransform } from '../shared/validation.ts';
import { transformOf, type TableDeclaration } from './declaration.ts';
import type { SourceTable } from './introspect.ts';

/** Debezium's maskers and truncation apply to character columns. */
const characterType = /^(text|character varying(\((\d+)\))?|character\((\d+)\)|citext)$/;

/** Refuse options on columns the table does not have or that are not character columns (the message names the column). */
export function checkColumnOptions(decl: TableDeclaration, src: SourceTable): void {
  for (const [name, options] of Object.entries(decl.columns)) {
    const c = src.columns.find((x) => x.name === name);
    if (!c) throw new Error(`${decl.source}: column options name ${name}, which the table does not have`);
    if (transformOf(options) && !characterType.test(c.type)) {
      throw new Error(`${decl.source}: column ${name} is ${c.type}: hash, mask and truncate apply to text columns only (leave it out with "exclude" instead)`);
    }
  }
}

/** Each transformed column's transform, as validation applies it to the Postgres value. */
export function validationTransforms(decl: TableDeclaration, src: SourceTable): Record<string, ColumnTransform> {
  const out: Record<string, ColumnTransform> = {};
  for (const [name, options] of Object.entries(decl.columns)) {
    const t = transformOf(options);
    if (!t) continue;
    const m = characterType.exec(src.columns.find((x) => x.name === name)?.type ?? '');
    const length = m?.[3] ?? m?.[4];
    out[name] =
      'hash' in t
        ? { kind: 'hash', algorithm: t.hash.algorithm === 'SHA-512' ? 'sha512' : 'sha256', salt: t.hash.salt, ...(length ? { length: Number(length) } : {}) }
        : 'mask' in t
          ? { kind: 'mask', chars: t.mask }
          : { kind: 'truncate', chars: t.truncate };
  }
  return out;
}
