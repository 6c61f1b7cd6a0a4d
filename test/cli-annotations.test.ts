// End-to-end tests of `flyte-secrets annotate` and `flyte-secrets decode-annotations`: the real binary
// (`node bin/flyte-secrets.js`, built with `npx tsc -p tsconfig.build.json`) in a child process, with real
// stdin/stdout/stderr and exit codes.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseSecretJson, parseSecretSpec } from '../src/cli/commands/annotate.js';
import { CliError } from '../src/cli/io.js';
import { encodeFlyteBase32 } from '../src/secret/base32.js';
import { runBinary } from './support/cli.js';

const root = fileURLToPath(new URL('..', import.meta.url));

interface VectorSecret {
  group?: string;
  groupVersion?: string;
  key?: string;
  mountRequirement?: string;
  envVar?: string;
}
const vectors = JSON.parse(readFileSync(join(root, 'test/vectors/annotations.json'), 'utf8')) as {
  encode: { secret: VectorSecret; annotation: string }[];
};

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the real binary, with stdout as text. */
async function run(args: string[], input?: string): Promise<Run> {
  const r = await runBinary(args, { input });
  return { ...r, stdout: r.stdout.toString('utf8') };
}

function expectCleanFailure(r: Run, code: number, message: string | RegExp): void {
  expect(r.code).toBe(code);
  expect(r.stdout).toBe('');
  if (typeof message === 'string') expect(r.stderr).toContain(message);
  else expect(r.stderr).toMatch(message);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  expect(r.stderr).not.toMatch(/internal error/);
}

/** The JSON `decode-annotations` prints for a vector secret. */
function printed(s: VectorSecret): Record<string, string> {
  return { group: s.group ?? '', groupVersion: s.groupVersion ?? '', key: s.key ?? '', mountRequirement: s.mountRequirement ?? 'ANY', envVar: s.envVar ?? '' };
}

/** `--secret` text for a vector secret (none of the vector values used here contain commas). */
function spec(s: VectorSecret): string {
  const parts: string[] = [];
  if (s.group !== undefined) parts.push(`group=${s.group}`);
  if (s.groupVersion !== undefined) parts.push(`groupVersion=${s.groupVersion}`);
  if (s.key !== undefined) parts.push(`key=${s.key}`);
  if (s.mountRequirement !== undefined) parts.push(`mount=${s.mountRequirement}`);
  if (s.envVar !== undefined) parts.push(`envVar=${s.envVar}`);
  return parts.join(',');
}

const POD_YAML = [
  'apiVersion: v1',
  'kind: Pod',
  'metadata:',
  '  name: task-pod',
  '  labels:',
  '    app: demo',
  '  annotations:',
  '    keep: me',
  'spec:',
  '  containers:',
  '    - name: main',
  '      image: busybox',
  '',
].join('\n');

let scratch = '';
let podFile = '';
beforeAll(() => {
  if (!existsSync(join(root, 'dist/cli/commands/annotate.js'))) {
    throw new Error('dist/ is not built: run `npx tsc -p tsconfig.build.json` first');
  }
  scratch = mkdtempSync(join(tmpdir(), 'cli-annotations-'));
  podFile = join(scratch, 'pod.yaml');
  writeFileSync(podFile, POD_YAML);
});
afterAll(() => {
  if (scratch !== '') rmSync(scratch, { recursive: true, force: true });
});

// Vectors with a group or key (the all-default secret cannot be given on the command line).
const usable = vectors.encode.filter(
  (v) => (v.secret.group !== undefined || v.secret.key !== undefined) && !Object.values(v.secret).some((x) => String(x).includes(',')),
);

describe('flyte-secrets annotate', () => {
  it('adds Flyte’s annotation values and the opt-in label, keeping what the pod had (YAML by default)', async () => {
    const args = usable.flatMap((v) => ['--secret', spec(v.secret)]);
    const r = await run(['annotate', '-f', podFile, ...args]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const pod = parseYaml(r.stdout) as Pod;
    const expected: Record<string, string> = { keep: 'me' };
    usable.forEach((v, i) => (expected[`flyte.secrets/s${i}`] = v.annotation));
    expect(pod.metadata?.annotations).toEqual(expected);
    expect(pod.metadata?.labels).toEqual({ app: 'demo', 'inject-flyte-secrets': 'true' });
    expect(pod.metadata?.name).toBe('task-pod');
    expect(pod.spec).toEqual({ containers: [{ name: 'main', image: 'busybox' }] });
  });

  it('keeps command-line order across --secret and --secret-json', async () => {
    const [a, b, c] = [usable[0]!, usable[3]!, usable[1]!];
    const r = await run([
      'annotate',
      '-f',
      '-',
      '-o',
      'json',
      '--secret',
      spec(a.secret),
      '--secret-json',
      JSON.stringify({ ...b.secret, mount: b.secret.mountRequirement, mountRequirement: undefined }),
      '--secret',
      spec(c.secret),
    ], POD_YAML);
    expect(r.code).toBe(0);
    const pod = JSON.parse(r.stdout) as Pod;
    expect(pod.metadata?.annotations).toEqual({ keep: 'me', 'flyte.secrets/s0': a.annotation, 'flyte.secrets/s1': b.annotation, 'flyte.secrets/s2': c.annotation });
  });

  it('--secret-json carries values --secret cannot (commas, Unicode) and round-trips through decode-annotations', async () => {
    const secret = { group: 'a,b=c', groupVersion: 'v1', key: 'clé 🔑', mount: 'env_var', envVar: 'MY_VAR' };
    const annotated = await run(['annotate', '-f', podFile, '-o', 'json', '--secret-json', JSON.stringify(secret)]);
    expect(annotated.code).toBe(0);
    const decoded = await run(['decode-annotations', '-f', '-'], annotated.stdout);
    expect(decoded.code).toBe(0);
    expect(JSON.parse(decoded.stdout)).toEqual([{ group: 'a,b=c', groupVersion: 'v1', key: 'clé 🔑', mountRequirement: 'ENV_VAR', envVar: 'MY_VAR' }]);
  });

  it.concurrent.each([
    [['--secret', 'grp=x'], 2, 'unknown field "grp"'],
    [['--secret', 'key=x,mount=SIDECAR'], 2, 'unknown mount "SIDECAR"; use FILE, ENV_VAR or ANY'],
    [['--secret-json', '{"key":'], 2, 'not valid JSON'],
    [[], 2, 'give at least one --secret or --secret-json'],
    [['--secret', 'key=k', '-o', 'xml'], 2, /argument 'xml' is invalid/],
  ])('refuses %j with exit %i', async (extra, code, message) => {
    expectCleanFailure(await run(['annotate', '-f', podFile, ...extra]), code, message);
  });

  // The remaining option-parsing cases, in-process (same functions the binary runs).
  it.each([
    ['--secret', 'key', 'is not name=value'],
    ['--secret', 'key=a,key=b', 'key is given twice'],
    ['--secret', 'mount=FILE', 'a secret needs a group or a key'],
    ['--secret', ' ', 'empty; expected name=value pairs'],
    ['--secret', 'key=k,mount=FILE,mountRequirement=ANY', 'give mount or mountRequirement, not both'],
    ['--secret-json', '["key"]', 'expected a JSON object'],
    ['--secret-json', '{"key":"k","mount":"NOPE"}', 'unknown mount "NOPE"'],
    ['--secret-json', '{"key":"k","extra":"x"}', 'unknown field "extra"'],
    ['--secret-json', '{"key":1}', 'key must be a string'],
  ])('%s %j is a usage error: %s', (option, text, message) => {
    const parse = option === '--secret' ? parseSecretSpec : parseSecretJson;
    let caught: unknown;
    try {
      parse(text);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(CliError);
    expect((caught as CliError).exitCode).toBe(2);
    expect((caught as Error).message).toContain(message);
  });

  it('parses every --secret field, mount names case-insensitively, values up to the next comma', () => {
    expect(parseSecretSpec('group=g,groupVersion=v,key=k=1,mount=env_var,envVar=E')).toEqual({
      group: 'g',
      groupVersion: 'v',
      key: 'k=1',
      mountRequirement: 1,
      envVar: 'E',
    });
    expect(parseSecretJson('{"key":"k","mountRequirement":"file"}')).toEqual({ group: '', groupVersion: '', key: 'k', mountRequirement: 2, envVar: '' });
  });

  it.concurrent.each([
    ['- [1, 2]\n', 'expected a Pod object, got a list'],
    ['kind: Deployment\napiVersion: apps/v1\n', 'expected kind Pod, got "Deployment"'],
    ['kind: Pod\nmetadata: [x]\n', "the Pod's metadata is not an object"],
    ['{ not: yaml: at all', 'not valid YAML or JSON'],
    ['', 'empty input'],
  ])('refuses a pod file that is not a Pod: %j', async (text, message) => {
    expectCleanFailure(await run(['annotate', '-f', '-', '--secret', 'key=k'], text), 1, message);
  });

  it('reports a missing pod file', async () => {
    expectCleanFailure(await run(['annotate', '-f', join(scratch, 'missing.yaml'), '--secret', 'key=k']), 1, 'no such file');
  });

  it('prints help with an example', async () => {
    const r = await run(['annotate', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Examples:');
    expect(r.stdout).toContain('flyte-secrets annotate -f pod.yaml --secret');
  });
});

describe('flyte-secrets decode-annotations', () => {
  it('prints the secrets of a YAML pod in annotation-index order (s0, s2, s10, then non-numeric suffixes)', async () => {
    const [v0, v1, v2, v3] = [usable[0]!, usable[1]!, usable[2]!, usable[3]!];
    const pod = [
      'apiVersion: v1',
      'kind: Pod',
      'metadata:',
      '  annotations:',
      `    flyte.secrets/sX: ${v3.annotation}`,
      `    flyte.secrets/s10: ${v2.annotation}`,
      `    flyte.secrets/s2: ${v1.annotation}`,
      `    flyte.secrets/s0: ${v0.annotation}`,
      '    unrelated: "not base32 !"',
      'spec: {containers: []}',
      '',
    ].join('\n');
    const file = join(scratch, 'ordered.yaml');
    writeFileSync(file, pod);
    const r = await run(['decode-annotations', '-f', file]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([printed(v0.secret), printed(v1.secret), printed(v2.secret), printed(v3.secret)]);
  });

  it('reads JSON from stdin, prints absent fields as "" and an unknown mount requirement as its number', async () => {
    const annotation = encodeFlyteBase32(new TextEncoder().encode('key: "k"\nmount_requirement: 7\n'));
    const r = await run(['decode-annotations', '-f', '-'], JSON.stringify({ kind: 'Pod', metadata: { annotations: { 'flyte.secrets/s0': annotation } } }));
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([{ group: '', groupVersion: '', key: 'k', mountRequirement: '7', envVar: '' }]);
  });

  it('prints [] for a pod without secret annotations', async () => {
    const r = await run(['decode-annotations', '-f', podFile]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([]);
  });

  it('fails with the webhook’s message for an undecodable annotation', async () => {
    const r = await run(['decode-annotations', '-f', '-'], JSON.stringify({ metadata: { annotations: { 'flyte.secrets/s3': 'NOT-BASE32' } } }));
    expectCleanFailure(
      r,
      1,
      'failed to unmarshal secrets from pod annotations: error unmarshaling secret [flyte.secrets/s3]. Error: illegal base32 data at input byte 0',
    );
  });

  it.concurrent.each([
    ['{"metadata":{"annotations":{"flyte.secrets/s0":5}}}', 'annotation "flyte.secrets/s0" is not a string'],
    ['{"metadata":{"annotations":["x"]}}', 'metadata.annotations is not a map'],
    ['{"kind":"AdmissionReview"}', 'this is an AdmissionReview'],
  ])('refuses %s', async (text, message) => {
    expectCleanFailure(await run(['decode-annotations', '-f', '-'], text), 1, message);
  });

  it('prints help with an example', async () => {
    const r = await run(['decode-annotations', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Examples:');
    expect(r.stdout).toContain('flyte-secrets decode-annotations -f pod.yaml');
  });
});
