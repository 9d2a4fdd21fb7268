/**
 * A short content hash of some files and folders under one directory, for
 * naming an install that is built from the repository's own sources (so an
 * edited source installs beside the old build instead of being missed).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export function treeHash(root: string, entries: string[]): string {
  const hash = crypto.createHash('sha256');
  const visit = (rel: string): void => {
    const abs = path.join(root, rel);
    if (fs.statSync(abs).isDirectory()) {
      for (const name of fs.readdirSync(abs).sort()) visit(path.join(rel, name));
    } else {
      hash.update(`${rel}\0`).update(fs.readFileSync(abs)).update('\0');
    }
  };
  for (const entry of entries) visit(entry);
  return hash.digest('hex').slice(0, 12);
}
