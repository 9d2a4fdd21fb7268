/** A backup target on a local (or mounted) filesystem, shared with the ClickHouse host. */
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { sqlString, type ObjectStore, type StoredObject } from './store.ts';

export class LocalStore implements ObjectStore {
  constructor(readonly root: string) {
    if (!path.isAbsolute(root)) throw new Error(`backup directory ${root} is not absolute`);
  }

  get location(): string {
    return this.root;
  }

  private file(key: string): string {
    const f = path.resolve(this.root, key);
    if (f !== this.root && !f.startsWith(`${this.root}${path.sep}`)) throw new Error(`key ${key} leaves ${this.root}`);
    return f;
  }

  async put(key: string, body: string | Buffer): Promise<void> {
    const f = this.file(key);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    // Written whole, then renamed: a reader never sees half a manifest.
    fs.writeFileSync(`${f}.tmp`, body);
    fs.renameSync(`${f}.tmp`, f);
  }

  async putFile(key: string, file: string): Promise<void> {
    const f = this.file(key);
    if (path.resolve(file) === f) return;
    fs.mkdirSync(path.dirname(f), { recursive: true });
    await pipeline(fs.createReadStream(file), fs.createWriteStream(f));
  }

  async get(key: string): Promise<Buffer | undefined> {
    try {
      return fs.readFileSync(this.file(key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async getToFile(key: string, file: string): Promise<void> {
    await pipeline(fs.createReadStream(this.file(key)), fs.createWriteStream(file));
  }

  async list(prefix: string): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    const walk = (dir: string) => {
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(dir, { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      for (const e of entries) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.isFile()) out.push({ key: path.relative(this.root, p), size: fs.statSync(p).size });
      }
    };
    const start = this.file(prefix);
    if (fs.existsSync(start) && fs.statSync(start).isFile()) return [{ key: prefix, size: fs.statSync(start).size }];
    walk(start);
    return out.sort((a, b) => a.key.localeCompare(b.key));
  }

  async folders(prefix: string): Promise<string[]> {
    try {
      return fs
        .readdirSync(this.file(prefix), { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => e.name)
        .sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  async remove(prefix: string): Promise<number> {
    const n = (await this.list(prefix)).length;
    fs.rmSync(this.file(prefix), { recursive: true, force: true });
    return n;
  }

  clickhouseDestination(key: string): string {
    return `File(${sqlString(this.file(key))})`;
  }
}
