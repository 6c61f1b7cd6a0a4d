#!/usr/bin/env node
// Thin shim: enable the compile cache where Node has it, then run the compiled CLI.
import module from 'node:module';
if (typeof module.enableCompileCache === 'function') module.enableCompileCache();
const { main } = await import('../dist/cli/main.js');
await main(process.argv);
