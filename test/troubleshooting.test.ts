/**
 * Keeps docs/troubleshooting.md true.
 *
 * Convention (stated at the top of the doc): a line starting with `> **message**:` quotes, in its first code span, a
 * text that flyte-secrets produces; `<…>` marks a varying part and `…` an elided one. From each such message this test
 * takes its fixed pieces (split at placeholders, brackets and clause punctuation, trimmed of punctuation) and checks:
 *
 * 1. every piece occurs in the source under src/ (string literals, with simple constants such as
 *    `${SECRETS_MOUNT_ROOT}` resolved, literal concatenations joined and escapes undone), so the doc cannot quote a
 *    message the code no longer produces;
 * 2. the reverse, for a curated list: the key messages and names exported by src (NONE_INJECTED_PREFIX, the Azure
 *    workload-identity warning, the internal-error denial, the init-container names and scripts, the admission log
 *    fields, the metric names) are in the doc;
 * 3. messages the code really produces (the mutator over real injectors, the admission handler, the invalidation
 *    server over a real socket) are each described by some quoted message, pieces in order.
 *
 * Pieces, not whole-line regexes: rewording a message breaks only the doc entry that quotes the changed words.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DENIED_EXIT_CODE } from '../src/cli/commands/inject.js';
import { EXIT_NOT_FOUND } from '../src/cli/commands/secret.js';
import { defaultConfig, parseConfig } from '../src/config/load.js';
import type { Config } from '../src/config/schema.js';
import { uncachedSecretCache } from '../src/fetch/cache.js';
import { SecretNotFound, SecretReadFailure, type SecretFetcher } from '../src/fetch/fetcher.js';
import { FETCH_METRIC_NAMES } from '../src/fetch/metrics.js';
import { AWS_CONTAINER_PREFIX } from '../src/inject/aws.js';
import { AZURE_CONTAINER_PREFIX, AZURE_NO_WORKLOAD_IDENTITY_WARNING, AZURE_SCRIPT } from '../src/inject/azure.js';
import { createEmbeddedInjector } from '../src/inject/embedded.js';
import { GCP_CONTAINER_PREFIX, GCP_SCRIPT } from '../src/inject/gcp.js';
import { buildInjectors, createMutator, NONE_INJECTED_PREFIX, type MutationOutcome } from '../src/inject/mutator.js';
import { annotatePod, INJECT_LABEL } from '../src/secret/annotations.js';
import { encodeSecretName } from '../src/secret/flyte-id.js';
import { makeSecret, MountRequirement, type Secret } from '../src/secret/model.js';
import { createAdmissionHandler, INTERNAL_ERROR_MESSAGE, NO_CHANGES_MESSAGE } from '../src/webhook/handler.js';
import { INVALIDATE_PATH, startInvalidationServer, type InvalidationServer } from '../src/webhook/invalidation.js';
import { createLogger, logAdmission } from '../src/webhook/logger.js';
import { createWebhookMetrics } from '../src/webhook/metrics.js';
import { WEBHOOK_NAME } from '../src/webhook/register.js';
import { MUTATE_PATH } from '../src/webhook/server.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DOC = readFileSync(join(ROOT, 'docs', 'troubleshooting.md'), 'utf8');
const MARKER = '> **message**:';

// ---------------------------------------------------------------------------------------------------------------
// Reading the doc

/** The first Markdown code span of `text` (a run of n backticks up to the next run of exactly n), or undefined. */
function firstCodeSpan(text: string): string | undefined {
  const open = /`+/.exec(text);
  if (open === null) return undefined;
  const start = open.index + open[0].length;
  const runs = /`+/g;
  runs.lastIndex = start;
  for (let m = runs.exec(text); m !== null; m = runs.exec(text)) {
    if (m[0].length !== open[0].length) continue;
    let body = text.slice(start, m.index);
    if (body.length > 2 && body.startsWith(' ') && body.endsWith(' ') && body.trim() !== '') body = body.slice(1, -1);
    return body;
  }
  return undefined;
}

interface QuotedMessage {
  line: number;
  text: string;
}

/** Every message quoted with the `> **message**:` convention. */
function quotedMessages(doc: string): QuotedMessage[] {
  const out: QuotedMessage[] = [];
  doc.split('\n').forEach((raw, i) => {
    if (!raw.startsWith(MARKER)) return;
    const text = firstCodeSpan(raw.slice(MARKER.length));
    out.push({ line: i + 1, text: text ?? '' });
  });
  return out;
}

/** `<placeholder>` or `…`: a part that varies or is left out. */
const WILDCARD = /<[^<>]+>|…/g;

/**
 * The fixed pieces of a quoted message: split at wildcards, brackets and clause punctuation (`, ` `; ` `: `), trimmed
 * of surrounding punctuation and spaces; pieces shorter than 4 characters say too little to check and are dropped.
 */
function piecesOf(message: string): string[] {
  return message
    .split(WILDCARD)
    .flatMap((part) => part.split(/[[\]]|[,;:](?=\s|$)/))
    .map((p) => p.replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, ''))
    .filter((p) => p.length >= 4);
}

/** True when every piece of `message` occurs in `output`, in order (wildcards match anything, even nothing). */
function describes(message: string, output: string): boolean {
  const pieces = piecesOf(message);
  if (pieces.length === 0) return false;
  let at = 0;
  for (const p of pieces) {
    const i = output.indexOf(p, at);
    if (i < 0) return false;
    at = i + p.length;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------------------------
// Reading the source

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

/**
 * The text of every non-test source file under src/, searchable for message pieces: adjacent literal concatenations
 * joined (`'a ' + 'b'` → `'a b'`), `${NAME}` of simple string/number constants replaced by their value, and `\'`,
 * `\"`, `` \` `` and `\\` unescaped.
 */
function sourceCorpus(): string {
  const texts = sourceFiles(join(ROOT, 'src')).map((f) => readFileSync(f, 'utf8'));
  const constants = new Map<string, string>();
  const CONST = /\bconst\s+([A-Z][A-Z0-9_]*)\s*=\s*(?:'((?:[^'\\\n]|\\.)*)'|"((?:[^"\\\n]|\\.)*)"|(\d[\d_]*))\s*;/g;
  for (const text of texts) {
    for (const m of text.matchAll(CONST)) {
      const name = m[1] ?? '';
      if (!constants.has(name)) constants.set(name, m[2] ?? m[3] ?? (m[4] ?? '').replaceAll('_', ''));
    }
  }
  return texts
    .map((text) =>
      text
        .replace(/(['"`])\s*\+\s*\1/g, '')
        .replace(/\$\{([A-Z][A-Z0-9_]*)\}/g, (all: string, name: string) => constants.get(name) ?? all)
        .replace(/\\(['"`\\])/g, '$1'),
    )
    .join('\n');
}

const MESSAGES = quotedMessages(DOC);
const CORPUS = sourceCorpus();

/** Pieces of `message` that the source does not contain. */
function missingPieces(message: string): string[] {
  return piecesOf(message).filter((p) => !CORPUS.includes(p));
}

/** Some quoted message describes `output`. */
function isDocumented(output: string): boolean {
  return MESSAGES.some((m) => describes(m.text, output));
}

describe('docs/troubleshooting.md quotes only messages the code produces', () => {
  it('uses the «> **message**:» convention for many messages, each with one readable code span', () => {
    expect(MESSAGES.length).toBeGreaterThanOrEqual(100);
    const unreadable = MESSAGES.filter((m) => m.text === '' || !piecesOf(m.text).some((p) => p.length >= 8)).map((m) => `line ${m.line}`);
    expect(unreadable).toEqual([]);
  });

  it('finds every fixed piece of every quoted message in src/', () => {
    const drift = MESSAGES.flatMap((m) => {
      const missing = missingPieces(m.text);
      return missing.length === 0 ? [] : [`line ${m.line}: ${JSON.stringify(missing)} (from ${JSON.stringify(m.text)})`];
    });
    expect(drift).toEqual([]);
  });

  it('links only to headings that exist', () => {
    const slug = (h: string): string => h.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');
    const anchors = new Set(DOC.split('\n').filter((l) => /^#{1,6} /.test(l)).map((l) => slug(l.replace(/^#+/, ''))));
    const links = [...DOC.matchAll(/\]\(#([^)]+)\)/g)].map((m) => m[1] ?? '');
    expect(links.length).toBeGreaterThan(5);
    expect(links.filter((l) => !anchors.has(l))).toEqual([]);
  });

  it('would notice a message that is not in the code (the check can fail)', () => {
    expect(missingPieces('the flux capacitor of <vault> is out of plutonium; refuel it')).not.toEqual([]);
    expect(missingPieces(`${NONE_INJECTED_PREFIX} [<secret>]: <why> (secret managers tried: [<managers>])`)).toEqual([]);
    expect(describes('failed to get reference secret [<name>]: <why>', 'failed to get reference secret [img-pull-x]: forbidden')).toBe(true);
    expect(describes('failed to get reference secret [<name>]: <why>', 'failed to create mirrored secret [img-pull-x]')).toBe(false);
  });
});

describe('the key messages and names of src are in docs/troubleshooting.md', () => {
  const quoted = new Set(MESSAGES.map((m) => m.text));

  it('quotes the admission texts exported by src word for word', () => {
    expect(quoted).toContain(AZURE_NO_WORKLOAD_IDENTITY_WARNING);
    expect(quoted).toContain(INTERNAL_ERROR_MESSAGE);
    expect(quoted).toContain(NO_CHANGES_MESSAGE);
    expect(MESSAGES.some((m) => m.text.startsWith(`${NONE_INJECTED_PREFIX} [`))).toBe(true);
  });

  it('names the webhook, the opt-in label, the paths, the init containers and the exit codes', () => {
    for (const name of [WEBHOOK_NAME, INJECT_LABEL, MUTATE_PATH, INVALIDATE_PATH]) expect(DOC).toContain(name);
    for (const prefix of [AZURE_CONTAINER_PREFIX, GCP_CONTAINER_PREFIX, AWS_CONTAINER_PREFIX]) expect(DOC).toContain(`${prefix}<i>`);
    expect(DOC).toContain(defaultConfig().webhook.embeddedSecretManagerConfig.fileMountInitContainer.containerName);
    expect(DOC).toContain(`\`${DENIED_EXIT_CODE}\` \`inject\``);
    expect(DOC).toContain(`\`${EXIT_NOT_FOUND}\``);
  });

  it('shows the Azure and GCP init-container scripts as they are', () => {
    for (const line of [...AZURE_SCRIPT.split('\n'), ...GCP_SCRIPT.split('\n')].filter((l) => l !== '')) expect(DOC).toContain(line);
  });

  it('explains every field of the admission log line and both of its msg texts', () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', destination: { write: (s: string) => void lines.push(s) } });
    const base = { uid: 'u', namespace: 'n', pod: 'p', operation: 'CREATE', dryRun: false, secrets: 1, managers: ['Azure'], durationMs: 1 };
    logAdmission(logger, { ...base, outcome: 'denied', reason: 'InvalidInput', message: 'm', warnings: 1 });
    logAdmission(logger, { ...base, outcome: 'mutated' });
    const [denied, mutated] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const undocumented = Object.keys(denied ?? {})
      .filter((k) => !['level', 'time', 'pid', 'hostname', 'name', 'msg'].includes(k))
      .filter((k) => !DOC.includes(`\`${k}\``));
    expect(undocumented).toEqual([]);
    expect(DOC).toContain(`\`${String(denied?.['msg'])}\``);
    expect(DOC).toContain(`\`${String(mutated?.['msg'])}\``);
  });

  it('names every webhook and fetch metric', async () => {
    const metrics = createWebhookMetrics({ processMetrics: false });
    const names = [...(await metrics.registry.getMetricsAsJSON()).map((m) => m.name), ...Object.values(FETCH_METRIC_NAMES)];
    expect(names.length).toBeGreaterThanOrEqual(11);
    expect(names.filter((n) => !DOC.includes(n))).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Messages the code really produces

const POD: Pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'task', namespace: 'flytesnacks-development', labels: { organization: 'flyte', project: 'flytesnacks', domain: 'development' } },
  spec: { containers: [{ name: 'main', image: 'busybox' }] },
};
const URI = 'https://myvault.vault.azure.net/secrets/db-password';
const MANAGER_REASON = /; (?=(?:Global|K8s|AWS|GCP|Vault|Azure|Embedded): )/;

function podWith(...secrets: Secret[]): Pod {
  return annotatePod(POD, secrets);
}

function mutatorFor(config: Config, embedded?: ReturnType<typeof createEmbeddedInjector>): ReturnType<typeof createMutator> {
  const deps = { env: {}, readFile: () => Promise.reject(new Error('ENOENT')), ...(embedded === undefined ? {} : { embedded }) };
  return createMutator(config, buildInjectors(config, deps));
}

function embeddedWith(fetch: SecretFetcher['fetch']): { config: Config; embedded: ReturnType<typeof createEmbeddedInjector> } {
  const config = parseConfig({ webhook: { secretManagerTypes: ['Embedded'] } });
  return { config, embedded: createEmbeddedInjector({ config, fetcher: { kind: 'stub', fetch }, cache: uncachedSecretCache() }) };
}

/** Every text of a mutation outcome that reaches a user: the denial's head, each manager's reason, each warning. */
function userTexts(outcome: MutationOutcome): string[] {
  const warnings = outcome.kind === 'unchanged' ? [] : outcome.warnings;
  return outcome.kind === 'denied' ? [...outcome.message.split(MANAGER_REASON), ...warnings] : warnings;
}

describe('what the webhook really answers is documented', () => {
  const azureK8s = parseConfig({ webhook: { secretManagerTypes: ['Azure', 'K8s'] } });
  const azureOnly = parseConfig({ webhook: { secretManagerTypes: ['Azure'] } });
  const sidecars = parseConfig({ webhook: { secretManagerTypes: ['AWS', 'GCP', 'Vault'] } });

  const cases: [string, () => Promise<MutationOutcome>][] = [
    ['a Key Vault URI asked for as an env var', () => mutatorFor(azureK8s).mutate(podWith(makeSecret({ group: URI, mountRequirement: MountRequirement.ENV_VAR })), { namespace: 'ns', dryRun: true })],
    ['a group that is not a Key Vault URI', () => mutatorFor(azureK8s).mutate(podWith(makeSecret({ group: 'plainname', mountRequirement: MountRequirement.FILE })), { namespace: 'ns', dryRun: true })],
    ['a version given twice, differently', () => mutatorFor(azureOnly).mutate(podWith(makeSecret({ group: `${URI}/0123456789abcdef0123456789abcdef`, groupVersion: 'other', key: 'k' })), { namespace: 'ns', dryRun: true })],
    ['an Azure secret on a pod without workload identity', () => mutatorFor(azureK8s).mutate(podWith(makeSecret({ group: URI, mountRequirement: MountRequirement.FILE })), { namespace: 'ns', dryRun: true })],
    ['an env-var secret for AWS, GCP and Vault', () => mutatorFor(sidecars).mutate(podWith(makeSecret({ group: 'g', key: 'k', mountRequirement: MountRequirement.ENV_VAR })), { namespace: 'ns', dryRun: true })],
    [
      'an annotation that is not Flyte base32',
      () => mutatorFor(azureK8s).mutate({ ...POD, metadata: { ...POD.metadata, annotations: { 'flyte.secrets/s0': 'nnsx!!' } } }, { namespace: 'ns', dryRun: true }),
    ],
    [
      'a Flyte-native secret found in no scope',
      () => {
        const { config, embedded } = embeddedWith((id) => Promise.reject(new SecretNotFound(encodeSecretName(id))));
        return mutatorFor(config, embedded).mutate(podWith(makeSecret({ key: 'db-password', mountRequirement: MountRequirement.ENV_VAR })), { namespace: 'flytesnacks-development', dryRun: true });
      },
    ],
    [
      'a Flyte-native secret the webhook may not read',
      () => {
        const forbidden = new Error("The user, group or application 'appid=x' does not have secrets get permission on key vault 'v;location=westeurope'.");
        const { config, embedded } = embeddedWith((id) => Promise.reject(new SecretReadFailure(encodeSecretName(id), forbidden, { status: 403 })));
        return mutatorFor(config, embedded).mutate(podWith(makeSecret({ key: 'db-password' })), { namespace: 'flytesnacks-development', dryRun: true });
      },
    ],
    [
      'a Flyte-native secret on a pod without scope labels',
      () => {
        const { config, embedded } = embeddedWith(() => Promise.reject(new Error('not called')));
        return mutatorFor(config, embedded).mutate(annotatePod({ ...POD, metadata: { name: 'task' } }, [makeSecret({ key: 'db-password' })]), { namespace: 'flytesnacks-development', dryRun: true });
      },
    ],
    [
      'a Flyte-native file secret whose key is a path',
      () => {
        const { config, embedded } = embeddedWith(() => Promise.reject(new Error('not called')));
        return mutatorFor(config, embedded).mutate(podWith(makeSecret({ key: '../etc/passwd', mountRequirement: MountRequirement.FILE })), { namespace: 'flytesnacks-development', dryRun: true });
      },
    ],
  ];

  it.each(cases)('%s', async (_name, run) => {
    const outcome = await run();
    const texts = userTexts(outcome);
    expect(texts.length).toBeGreaterThan(0);
    expect(texts.filter((t) => !isDocumented(t))).toEqual([]);
  });

  it('documents the HTTP 400 answers to bodies that are not AdmissionReviews', async () => {
    const handle = createAdmissionHandler({ mutator: mutatorFor(azureK8s) });
    const bodies = ['not json', '[]', '{"kind":"Pod","apiVersion":"v1"}', '{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1"}', '{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{}}'];
    for (const body of bodies) {
      const result = await handle(Buffer.from(body));
      expect(result.status).toBe(400);
      const message = (result.body as { message: string }).message;
      expect(isDocumented(message), message).toBe(true);
    }
  });

  describe('the cache-invalidation server', () => {
    let server: InvalidationServer | undefined;
    let base = '';
    beforeAll(async () => {
      const config = parseConfig({ flyteSecrets: { server: { host: '127.0.0.1', requestTimeout: '5s' } } });
      server = await startInvalidationServer({ config, injectors: [], port: -1 });
      base = `http://127.0.0.1:${server?.port ?? 0}`;
    });
    afterAll(async () => {
      await server?.close();
    });

    it('answers only with documented texts', async () => {
      const requests: [string, RequestInit, number][] = [
        [INVALIDATE_PATH, { method: 'GET' }, 405],
        ['/other', { method: 'POST', body: '{}' }, 404],
        [INVALIDATE_PATH, { method: 'POST', body: '' }, 400],
        [INVALIDATE_PATH, { method: 'POST', body: '{"name": 1}' }, 400],
        [INVALIDATE_PATH, { method: 'POST', body: '[1]' }, 400],
        [INVALIDATE_PATH, { method: 'POST', body: '{"org":"flyte"}' }, 400],
      ];
      for (const [path, init, status] of requests) {
        const res = await fetch(`${base}${path}`, { ...init, signal: AbortSignal.timeout(5000) });
        const text = (await res.text()).trim();
        expect(res.status).toBe(status);
        expect(isDocumented(text), text).toBe(true);
      }
    });
  });
});
