// Put the checkout's own CLI next to Node 24 in node_modules/.bin (npm links the bins of dependencies there, never the
// project's own), so `export PATH="$PWD/node_modules/.bin:$PATH"` gives both `node` (24) and `flyte-secrets`.
// Run by `npm install` (the prepare script). Does nothing outside a checkout with node_modules.
import { existsSync, lstatSync, mkdirSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const modules = join(root, 'node_modules');
if (existsSync(modules)) {
  const binDir = join(modules, '.bin');
  const link = join(binDir, 'flyte-secrets');
  const target = join('..', '..', 'bin', 'flyte-secrets.js');
  mkdirSync(binDir, { recursive: true });
  let current;
  try {
    current = lstatSync(link).isSymbolicLink() ? readlinkSync(link) : 'not a link';
  } catch {
    current = undefined;
  }
  if (current !== target) {
    if (current !== undefined) rmSync(link, { force: true });
    symlinkSync(target, link);
  }
}
