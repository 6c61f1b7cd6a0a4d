#!/usr/bin/env node
// Thin shim: check the Node version, enable the compile cache, then run the compiled CLI.
import module from 'node:module';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  process.stderr.write(
    `Error: flyte-secrets needs Node 22.12 or later (Node 24 LTS recommended); this is Node ${process.versions.node} (${process.execPath}).\n` +
      'In a checkout, `npm install` brings Node 24 into node_modules/.bin: run through npm (`npm start`, `npm exec flyte-secrets -- --help`)\n' +
      'or put it first on PATH: export PATH="$PWD/node_modules/.bin:$PATH"\n',
  );
  process.exit(1);
}
if (typeof module.enableCompileCache === 'function') module.enableCompileCache();
if (process.argv[2] === 'agent') {
  // The in-pod agent starts on the fast path: no commander, zod or config loader (see src/agent/main.ts), from the
  // one-file bundle `npm run build` makes (half the start-up CPU of the separate files), else from dist/agent/.
  const { runAgentCli } = await import('../dist/agent.bundle.mjs').catch((err) => {
    if (err?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
    return import('../dist/agent/main.js');
  });
  process.exit(await runAgentCli(process.argv.slice(3)));
}
const { main } = await import('../dist/cli/main.js');
await main(process.argv);
