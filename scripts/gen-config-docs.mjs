// Writes docs/configuration.md from the compiled config reference (run `npm run build` first).
import { writeFileSync } from 'node:fs';
const { renderConfigReference } = await import('../dist/config/reference.js');
writeFileSync(new URL('../docs/configuration.md', import.meta.url), renderConfigReference());
console.log('wrote docs/configuration.md');
