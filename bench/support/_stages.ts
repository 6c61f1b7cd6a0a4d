import 'reflect-metadata';
import { parseConfig } from '../../src/config/load.js';
import { buildInjectors, createMutator } from '../../src/inject/mutator.js';
import { createPatch } from '../../src/inject/patch.js';
import { editablePod } from '../../src/inject/pod-edit.js';
import { azureSecretTarget } from '../../src/inject/azure.js';
import { decodeSecretAnnotations } from '../../src/secret/annotations.js';
import { benchReviewObject } from './review.js';
const config = parseConfig({ webhook: { secretManagerTypes: ['Azure'] } });
const inj = buildInjectors(config);
const mutator = createMutator(config, inj);
const pod = benchReviewObject().request.object;
const out = await mutator.mutate(pod, { namespace: 'x', dryRun: false });
if (out.kind !== 'mutated') throw new Error();
const decoded = decodeSecretAnnotations(pod.metadata!.annotations);
async function t(name: string, fn: () => unknown) {
  for (let i = 0; i < 2000; i++) { const r = fn(); if (r instanceof Promise) await r; }
  const b = process.cpuUsage(); const n = 20000;
  for (let i = 0; i < n; i++) { const r = fn(); if (r instanceof Promise) await r; }
  const u = process.cpuUsage(b); console.log(name.padEnd(20), ((u.user + u.system) / n).toFixed(2));
}
await t('mutate', () => mutator.mutate(pod, { namespace: 'x', dryRun: false }));
await t('decode', () => decodeSecretAnnotations(pod.metadata!.annotations));
await t('createPatch', () => createPatch(pod, out.pod));
await t('editablePod', () => editablePod(pod));
await t('azureTarget x3', () => decoded.forEach((d) => azureSecretTarget(d.secret)));
await t('global x3', async () => { for (const d of decoded) await inj.get('Global')!.inject(d.secret, pod, { namespace: 'x', podName: 'p', warnings: [], dryRun: false }); });
await t('azure x3', async () => { for (const d of decoded) await inj.get('Azure')!.inject(d.secret, pod, { namespace: 'x', podName: 'p', warnings: [], dryRun: false }); });
await t('stringify patch', () => JSON.stringify(out.patch));
