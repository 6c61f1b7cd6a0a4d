#!/usr/bin/env node
// Thin shim: check the Node version, enable the compile cache, then run the compiled CLI.
import module from 'node:module';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  process.stderr.write(
    `error: flyte-secrets needs Node 22.12 or later (Node 24 LTS recommended); this is Node ${process.versions.node} (${process.execPath}).\n` +
      'In a checkout, `npm install` brings Node 24 into node_modules/.bin: run through npm (`npm start`, `npm exec flyte-secrets -- --help`)\n' +
      'or put it first on PATH: export PATH="$PWD/node_modules/.bin:$PATH"\n',
  );
  process.exit(1);
}
if (typeof module.enableCompileCache === 'function') module.enableCompileCache();
const { main } = await import('../dist/cli/main.js');
await main(process.argv);
