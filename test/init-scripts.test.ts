/**
 * Runs the init-container commands our injectors write (GCP and Azure; AWS has no command: its image reads env) with a
 * real `sh`, as root, in a private mount namespace where a scratch directory is bind-mounted at /etc/flyte/secrets
 * (`unshare --mount` as root; the image's own tools are not available here, so the command runs under the host's). Stand-ins for `az` and `gcloud`
 * come first on PATH: they record their arguments and print (az `-o tsv`) or write (gcloud `--out-file`) a value.
 *
 * Checked: the secret lands at the documented path with the documented content, exactly as Flyte's own command leaves
 * it (same stand-ins, same files, same modes); hostile groups, versions and keys are refused at admission, and even
 * when hostile text reaches our fixed scripts through their env it is never executed (a marker file is never
 * created) — while Flyte's interpolated command does execute it.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import type { Container, Pod } from 'kubernetes-types/core/v1.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { AZURE_SCRIPT, createAzureInjector } from '../src/inject/azure.js';
import { createGcpInjector, GCP_SCRIPT } from '../src/inject/gcp.js';
import { buildInjectors, createMutator } from '../src/inject/mutator.js';
import { annotatePod } from '../src/secret/annotations.js';
import { makeSecret, MountRequirement } from '../src/secret/model.js';
import { loadInjectorVectors, newContext, vectorInjector, vectorSecret } from './support/injector-vectors.js';

const VALUE = 's3cr3t value with spaces';
const CLIENT = '00000000-0000-0000-0000-0000000000c1';
const TENANT = '00000000-0000-0000-0000-0000000000e1';
const TOKEN = 'federated-token-from-the-projected-volume';

const AZ = `#!/bin/sh
# Stand-in for the Azure CLI: records its arguments, answers like the real one for the two calls used.
f="$STANDIN_LOG/$(ls "$STANDIN_LOG" | wc -l | tr -d ' ')-az"
for a in "$@"; do printf '%s\\0' "$a"; done > "$f"
case "$1" in
  login)
    [ -n "$AZURE_CLIENT_ID" ] && [ -n "$AZURE_TENANT_ID" ] || { echo "ERROR: AADSTS900144: client_id or tenant missing" >&2; exit 1; }
    echo '[]' ;;
  keyvault)
    id=""; prev=""
    for a in "$@"; do [ "$prev" = "--id" ] && id="$a"; prev="$a"; done
    case "$id" in
      https://*/secrets/?*) printf '%s\\n' "$STANDIN_VALUE" ;;
      *) echo "ERROR: invalid secret id" >&2; exit 1 ;;
    esac ;;
  *) exit 2 ;;
esac
`;

const GCLOUD = `#!/bin/sh
# Stand-in for gcloud: records its arguments; "secrets versions access" writes the value to --out-file (creating its
# directory, as gcloud does) and accepts VERSION either as a full resource name or with --secret.
f="$STANDIN_LOG/$(ls "$STANDIN_LOG" | wc -l | tr -d ' ')-gcloud"
for a in "$@"; do printf '%s\\0' "$a"; done > "$f"
[ "$1 $2 $3" = "secrets versions access" ] || exit 2
shift 3
ver=""; secret=""; out=""
for a in "$@"; do
  case "$a" in
    --secret=*) secret="\${a#--secret=}" ;;
    --out-file=*) out="\${a#--out-file=}" ;;
    -*) echo "ERROR: unrecognized arguments: $a" >&2; exit 2 ;;
    *) ver="$a" ;;
  esac
done
case "$ver" in
  projects/*/secrets/*/versions/*) ;;
  */*) echo "ERROR: invalid version resource $ver" >&2; exit 1 ;;
  *) [ -n "$secret" ] || { echo "ERROR: --secret is required" >&2; exit 1; } ;;
esac
mkdir -p "$(dirname "$out")"
printf '%s' "$STANDIN_VALUE" > "$out"
`;

let work = '';
let bin = '';
let tokenFile = '';

beforeAll(() => {
  const probe = spawnSync('unshare', ['-m', 'sh', '-c', 'mount --make-rprivate / && exit 0'], { encoding: 'utf8', timeout: 10_000 });
  if (probe.error !== undefined || probe.status !== 0) {
    throw new Error(
      `test/init-scripts.test.ts needs "unshare -m" (util-linux) and root to run init-container commands in a private mount namespace; ` +
        `it failed here: ${probe.error?.message ?? probe.stderr.trim()}. Run the tests as root on Linux with util-linux installed (CI does).`,
    );
  }
  work = mkdtempSync(join(tmpdir(), 'flyte-init-scripts-'));
  bin = join(work, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'az'), AZ);
  writeFileSync(join(bin, 'gcloud'), GCLOUD);
  chmodSync(join(bin, 'az'), 0o755);
  chmodSync(join(bin, 'gcloud'), 0o755);
  tokenFile = join(work, 'azure-identity-token');
  writeFileSync(tokenFile, TOKEN);
});

afterAll(() => {
  if (work !== '') rmSync(work, { recursive: true, force: true });
});

interface Run {
  status: number | null;
  stderr: string;
  /** Files under the scratch /etc/flyte/secrets: path → { content, mode }. */
  files: Map<string, { content: string; mode: number }>;
  /** Stand-in calls, in order: [tool, ...args]. */
  calls: string[][];
}

let runs = 0;

/** Run `command` (an init container's) with `env`, as root, with a scratch dir at /etc/flyte/secrets. */
function run(command: string[], env: Record<string, string>, opts: { scratch?: string; shell?: string } = {}): Run {
  runs++;
  const scratch = opts.scratch ?? join(work, `secrets-${runs}`);
  const log = join(work, `log-${runs}`);
  mkdirSync(scratch, { recursive: true });
  mkdirSync(log, { recursive: true });
  const cmd = opts.shell !== undefined && command[0] === 'sh' ? [opts.shell, ...command.slice(1)] : command;
  const r = spawnSync('unshare', ['-m', 'sh', '-c', 'mkdir -p /etc/flyte/secrets && mount --bind "$0" /etc/flyte/secrets && exec "$@"', scratch, ...cmd], {
    encoding: 'utf8',
    timeout: 10_000,
    env: {
      PATH: `${bin}:/usr/local/bin:/usr/bin:/bin`,
      AZURE_CLIENT_ID: CLIENT,
      AZURE_TENANT_ID: TENANT,
      AZURE_FEDERATED_TOKEN_FILE: tokenFile,
      STANDIN_LOG: log,
      STANDIN_VALUE: VALUE,
      MARKER: join(work, 'PWNED'),
      ...env,
    },
  });
  if (r.error !== undefined) throw r.error;
  const files = new Map<string, { content: string; mode: number }>();
  const walk = (dir: string, rel: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const st = lstatSync(p);
      if (st.isDirectory()) {
        files.set(`${rel}/${name}/`, { content: '', mode: st.mode & 0o777 });
        walk(p, `${rel}/${name}`);
      } else files.set(`${rel}/${name}`, { content: readFileSync(p, 'utf8'), mode: st.mode & 0o777 });
    }
  };
  walk(scratch, '/etc/flyte/secrets');
  const calls = readdirSync(log)
    .sort((a, b) => parseInt(a, 10) - parseInt(b, 10))
    .map((f) => [f.replace(/^\d+-/, ''), ...readFileSync(join(log, f), 'utf8').split('\0').slice(0, -1)]);
  return { status: r.status, stderr: r.stderr, files, calls };
}

/** The env of an init container as a plain map (only literal values; ours never use valueFrom). */
function envOf(c: Container): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of c.env ?? []) {
    if (e.valueFrom !== undefined) throw new Error(`env ${e.name} uses valueFrom`);
    out[e.name] = e.value ?? '';
  }
  return out;
}

function initContainers(pod: Pod): Container[] {
  return pod.spec?.initContainers ?? [];
}

/** Flyte's Azure command (Flyte: `secret/azure_secret_manager.go`), to compare with. Checked against Flyte's vectors below. */
function flyteAzureCommand(group: string, version: string): string {
  const trimmed = group.replace(/\/+$/, '');
  const name = trimmed.slice(trimmed.lastIndexOf('/') + 1);
  let path = posix.join('/etc/flyte/secrets', name).toLowerCase();
  let mkdir = '';
  if (version !== '') {
    const dir = path;
    path = posix.join(dir, version).toLowerCase();
    mkdir = `mkdir -p ${dir}; `;
  }
  return `az login --service-principal -u $AZURE_CLIENT_ID -t $AZURE_TENANT_ID --federated-token "$(cat $AZURE_FEDERATED_TOKEN_FILE)"; ${mkdir}az keyvault secret show --id "${trimmed}/${version}" --query "value" -o tsv > ${path}`;
}

/** Flyte's GCP command (Flyte: `secret/gcp_secret_manager.go`). */
function flyteGcpCommand(group: string, version: string): string {
  const dir = posix.join('/etc/flyte/secrets', group).toLowerCase();
  const path = posix.join(dir, version).toLowerCase();
  return `gcloud secrets versions access ${group}/versions/${version} --out-file=${path} || gcloud secrets versions access ${version} --secret=${group} --out-file=${path}; chmod +rX ${dir} ${path}`;
}

/** Key Vault secret id → comparable form (host lower-cased, no trailing "/"). */
function normalId(id: string): string {
  const u = new URL(id);
  return `${u.protocol}//${u.host.toLowerCase()}${u.pathname.replace(/\/+$/, '')}`;
}

const fileVectors = loadInjectorVectors().filter((v) => v.flyteCommand !== undefined && v.file !== undefined);

describe('init-container commands leave the same file as Flyte’s (vectors with a Flyte command)', () => {
  it('covers GCP and Azure', () => {
    expect(new Set(fileVectors.map((v) => v.manager))).toEqual(new Set(['GCP', 'Azure']));
  });

  for (const v of fileVectors) {
    for (const shell of ['sh', 'bash']) {
      it(`${v.name} (${shell})`, async () => {
        const secret = vectorSecret(v);
        if (v.manager === 'Azure') expect(flyteAzureCommand(secret.group, secret.groupVersion)).toBe(v.flyteCommand);
        if (v.manager === 'GCP') expect(flyteGcpCommand(secret.group, secret.groupVersion)).toBe(v.flyteCommand);
        const out = await vectorInjector(v).inject(secret, v.pod, newContext());
        if (!out.injected) throw new Error(out.reason);
        const [init] = initContainers(out.pod).slice(-1);
        const ours = run(init!.command!, envOf(init!), { shell });
        const theirs = run([shell, '-ec', v.flyteCommand!], {});
        expect(ours.status, ours.stderr).toBe(0);
        expect(theirs.status, theirs.stderr).toBe(0);
        const content = v.manager === 'Azure' ? `${VALUE}\n` : VALUE;
        expect(ours.files.get(v.file!)?.content).toBe(content);
        expect(ours.files).toEqual(theirs.files);
        if (v.manager === 'Azure') {
          expect(ours.calls[0]).toEqual(['az', 'login', '--service-principal', '-u', CLIENT, '-t', TENANT, '--federated-token', TOKEN]);
          expect(theirs.calls[0]).toEqual(ours.calls[0]);
          const show = (r: Run): string[] => r.calls[1]!;
          expect(show(ours).slice(0, 4)).toEqual(['az', 'keyvault', 'secret', 'show']);
          expect(normalId(show(ours)[5]!)).toBe(normalId(show(theirs)[5]!));
          expect(show(ours).slice(6)).toEqual(show(theirs).slice(6));
        } else {
          expect(ours.calls).toEqual(theirs.calls);
        }
      });
    }
  }

  it('the Azure script stops (errexit) when az login fails, leaving no file', () => {
    const r = run(['sh', '-ec', AZURE_SCRIPT], { AZURE_CLIENT_ID: '', FLYTE_SECRET_ID: 'https://v.vault.azure.net/secrets/x', FLYTE_SECRET_PATH: '/etc/flyte/secrets/x' });
    expect(r.status).not.toBe(0);
    expect([...r.files.keys()]).toEqual([]);
    expect(r.calls.map((c) => c[1])).toEqual(['login']);
  });
});

describe('a pod with several secrets: every init container in order, every file at its documented path', () => {
  it('Azure: latest, pinned by group_version, pinned inside the URI', async () => {
    const config = parseConfig({ webhook: { secretManagerTypes: ['Azure'] } }, '(test)', {});
    const mutator = createMutator(config, buildInjectors(config, { env: {} }));
    const v = '0123456789abcdef0123456789abcdef';
    const pod = annotatePod({ metadata: { name: 'p' }, spec: { containers: [{ name: 'main' }] } }, [
      makeSecret({ group: 'https://myvault.vault.azure.net/secrets/api-key', mountRequirement: MountRequirement.FILE }),
      makeSecret({ group: 'https://myvault.vault.azure.net/secrets/DB-Password', groupVersion: 'AbC123' }),
      makeSecret({ group: `https://other.vault.azure.net/secrets/cert/${v}` }),
    ]);
    const out = await mutator.mutate(pod, { namespace: 'ns', dryRun: false });
    if (out.kind !== 'mutated') throw new Error(JSON.stringify(out));
    const scratch = join(work, 'multi');
    for (const c of initContainers(out.pod)) expect(run(c.command!, envOf(c), { scratch }).status).toBe(0);
    const files = run(['true'], {}, { scratch }).files;
    expect(Object.fromEntries([...files].filter(([p]) => !p.endsWith('/')).map(([p, f]) => [p, f.content]))).toEqual({
      '/etc/flyte/secrets/api-key': `${VALUE}\n`,
      '/etc/flyte/secrets/db-password/abc123': `${VALUE}\n`,
      [`/etc/flyte/secrets/cert/${v}`]: `${VALUE}\n`,
    });
  });
});

const MARK = (): string => join(work, 'PWNED');
// Hostile text names the marker through $MARKER (set in every run), so it holds no "/" that would change the path.
const hostile = (): [string, string][] => [
  ['double quotes', 'x"; touch "$MARKER"; "'],
  ['command substitution', 'x$(touch "$MARKER")'],
  ['backticks', 'x`touch "$MARKER"`'],
  ['semicolon', 'x; touch "$MARKER"'],
  ['newline', 'x\ntouch "$MARKER"'],
  ['single quotes', "x'; touch \"$MARKER\"; '"],
  ['dot-dot', '../../../tmp/escape'],
];

describe('hostile requests are refused at admission', () => {
  const config = parseConfig({}, '(test)', {});
  const azure = createAzureInjector(config);
  const gcp = createGcpInjector(config);
  const base = 'https://myvault.vault.azure.net/secrets/db';

  it.each(hostile().map(([what]) => [what]))('%s', async (what) => {
    const text = hostile().find(([w]) => w === what)![1];
    const attempts = [
      azure.inject(makeSecret({ group: `${base}${text}` }), { spec: { containers: [] } }, newContext()),
      azure.inject(makeSecret({ group: `${base}/${text}` }), { spec: { containers: [] } }, newContext()),
      azure.inject(makeSecret({ group: base, groupVersion: text }), { spec: { containers: [] } }, newContext()),
      gcp.inject(makeSecret({ group: text, groupVersion: '1' }), { spec: { containers: [] } }, newContext()),
      gcp.inject(makeSecret({ group: 'db', groupVersion: text }), { spec: { containers: [] } }, newContext()),
      gcp.inject(makeSecret({ group: `projects/p/secrets/${text}`, groupVersion: '1' }), { spec: { containers: [] } }, newContext()),
    ];
    for (const out of await Promise.all(attempts)) expect(out.injected, 'a hostile request was admitted').toBe(false);
  });
});

describe('hostile text that reaches the fixed scripts through env is never executed', () => {
  for (const [what, text] of hostile()) {
    it(`Azure: ${what} in the secret id`, () => {
      rmSync(MARK(), { force: true });
      const id = `https://myvault.vault.azure.net/secrets/${text}`;
      const r = run(['sh', '-ec', AZURE_SCRIPT], { FLYTE_SECRET_ID: id, FLYTE_SECRET_PATH: '/etc/flyte/secrets/db' });
      expect(r.status, r.stderr).toBe(0);
      expect(existsSync(MARK())).toBe(false);
      expect(r.calls[1]?.[5]).toBe(id);
      expect([...r.files.keys()]).toEqual(['/etc/flyte/secrets/db']);
    });

    it(`GCP: ${what} in the secret name and version`, () => {
      rmSync(MARK(), { force: true });
      const r = run(['sh', '-ec', GCP_SCRIPT], { FLYTE_SECRET_NAME: text, FLYTE_SECRET_VERSION: text, FLYTE_SECRET_PATH: '/etc/flyte/secrets/db/1' });
      expect(existsSync(MARK())).toBe(false);
      expect(r.calls.flat().filter((a) => a.includes('touch')).every((a) => a.includes(text) || text.includes(a))).toBe(true);
      for (const p of r.files.keys()) expect(p.startsWith('/etc/flyte/secrets/')).toBe(true);
    });
  }

  it('…whereas Flyte’s interpolated commands do execute it (the check above can fail)', () => {
    rmSync(MARK(), { force: true });
    run(['sh', '-ec', flyteAzureCommand('https://myvault.vault.azure.net/secrets/x$(touch "$MARKER")', '')], {});
    expect(existsSync(MARK())).toBe(true);
    rmSync(MARK(), { force: true });
    run(['sh', '-ec', flyteGcpCommand('x$(touch "$MARKER")', '1')], {});
    expect(existsSync(MARK())).toBe(true);
    rmSync(MARK(), { force: true });
  });
});
