/**
 * `flyte-secrets secret create|get|list|delete`: manage Flyte-native secrets stored in Azure Key Vault, under the
 * names and in the envelope the Embedded manager reads (Flyte: `secret/utils.go`), so the webhook finds them.
 *
 * - `create --vault URL [--org O] [--domain D] [--project P] NAME (--value V | --from-file F) [--binary]`
 * - `get … NAME [--reveal] [--json]` prints metadata (name, scope, version, updated, kind); the value only with `--reveal`
 * - `list --vault URL [--org O] [--domain D] [--project P] [--json]` prints the decoded Flyte ids
 * - `delete … NAME [--purge]` soft-deletes, and purges only with `--purge`
 *
 * Auth: `DefaultAzureCredential` from the standard `AZURE_*` environment. TLS trust: `NODE_EXTRA_CA_CERTS` or
 * `--ca-file`. Needs the Key Vault Secrets Officer role (get, list, set, delete, purge).
 *
 * @module
 */
import { Option, type Command } from 'commander';
import { keyVaultNameForId, decodeKeyVaultName } from '../../azure/secret-name.js';
import { KEY_VAULT_MAX_VALUE_BYTES, decodeKeyVaultValue, encodeBinaryEnvelope, encodeStringEnvelope } from '../../azure/secret-value.js';
import { errorMessage, isFlyteSecretsError } from '../../errors.js';
import { withDeadline } from '../../fetch/deadline.js';
import { DEFAULT_ORG, encodeSecretName, type FlyteSecretId } from '../../secret/flyte-id.js';
import { CliError, printLine, readInput, writeBytes } from '../io.js';
import { describeTlsProblem, isTlsErrorCode } from '../../tls-problem.js';

/** Exit code when the secret does not exist (`get`, `delete`). */
export const EXIT_NOT_FOUND = 3;

/** Options shared by every subcommand. */
interface CommonOptions {
  vault: string;
  caFile?: string;
}

interface ScopeOptions {
  org: string;
  domain: string;
  project: string;
}

interface CreateOptions extends CommonOptions, ScopeOptions {
  value?: string;
  fromFile?: string;
  binary?: boolean;
  invalidateUrl?: string;
}

interface GetOptions extends CommonOptions, ScopeOptions {
  reveal?: boolean;
  json?: boolean;
}

interface ListOptions extends CommonOptions {
  org?: string;
  domain?: string;
  project?: string;
  json?: boolean;
}

interface DeleteOptions extends CommonOptions, ScopeOptions {
  purge?: boolean;
  invalidateUrl?: string;
}

/** The Key Vault client calls this command makes (the official `SecretClient`). */
interface VaultClient {
  setSecret(name: string, value: string): Promise<{ properties: { version?: string | undefined } }>;
  getSecret(name: string): Promise<{ value?: string | undefined; properties: { version?: string | undefined; updatedOn?: Date | undefined; createdOn?: Date | undefined; enabled?: boolean | undefined } }>;
  listPropertiesOfSecrets(): AsyncIterable<{ name: string; enabled?: boolean | undefined; updatedOn?: Date | undefined }>;
  beginDeleteSecret(name: string, options?: { intervalInMs?: number }): Promise<{ pollUntilDone(): Promise<{ scheduledPurgeDate?: Date | undefined; recoveryId?: string | undefined }> }>;
  purgeDeletedSecret(name: string): Promise<unknown>;
}

/** The scope of a secret in words: `project flyte/development/flytesnacks`, `domain flyte/development`, `org flyte`. */
export function describeScope(id: FlyteSecretId): string {
  if (id.project !== '') return `project ${id.org}/${id.domain}/${id.project}`;
  if (id.domain !== '') return `domain ${id.org}/${id.domain}`;
  return `org ${id.org}`;
}

/**
 * The Flyte secret id named by the scope options and NAME. Like Flyte's secret service: a project needs a domain.
 *
 * @example
 * ```ts
 * secretIdOf('db', { org: 'flyte', domain: 'development', project: '' }) // domain-scoped
 * ```
 */
export function secretIdOf(name: string, scope: ScopeOptions): FlyteSecretId {
  if (name === '') throw new CliError('the secret NAME must not be empty', 2);
  if (scope.project !== '' && scope.domain === '') {
    throw new CliError(`project-scoped secrets must also specify a domain, got project=${JSON.stringify(scope.project)} domain=""; add --domain`, 2);
  }
  for (const [flag, v] of [['--org', scope.org], ['--domain', scope.domain], ['--project', scope.project]] as const) {
    if (v.includes('__')) throw new CliError(`${flag} ${JSON.stringify(v)} must not contain "__" (it separates the parts of a Flyte secret id)`, 2);
  }
  return { org: scope.org, domain: scope.domain, project: scope.project, name };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The envelope to store: STRING for text, BINARY for bytes that are not UTF-8 (or when `binary` is asked). */
export function envelopeFor(content: string | Uint8Array, binary: boolean): { envelope: string; kind: 'string' | 'binary' } {
  if (typeof content === 'string') {
    return binary ? { envelope: encodeBinaryEnvelope(new TextEncoder().encode(content)), kind: 'binary' } : { envelope: encodeStringEnvelope(content), kind: 'string' };
  }
  if (!binary) {
    try {
      return { envelope: encodeStringEnvelope(utf8.decode(content)), kind: 'string' };
    } catch {
      // not UTF-8: fall through to binary
    }
  }
  return { envelope: encodeBinaryEnvelope(content), kind: 'binary' };
}

function addCommon(cmd: Command): Command {
  return cmd
    .addOption(new Option('--vault <url>', 'Key Vault URL, e.g. https://myvault.vault.azure.net').env('FLYTE_SECRETS_VAULT_URL').makeOptionMandatory())
    .option('--ca-file <file>', 'extra CA certificate (PEM) to trust for the vault and the token endpoint (or set NODE_EXTRA_CA_CERTS)');
}

function addScope(cmd: Command): Command {
  return cmd
    .option('--org <org>', 'organisation (Flyte OSS always uses "flyte")', DEFAULT_ORG)
    .option('--domain <domain>', 'domain, e.g. development (leave out for an org-wide secret)', '')
    .option('--project <project>', 'project, e.g. flytesnacks (needs --domain)', '');
}

async function clientFor(options: CommonOptions): Promise<VaultClient> {
  let ca: string | undefined;
  if (options.caFile !== undefined) ca = (await readInput(options.caFile)).toString('utf8');
  const { createSecretClient } = await import('../../azure/client.js');
  return createSecretClient(options.vault, ca === undefined ? {} : { ca });
}

function vaultContext(options: CommonOptions): { vault: string; caGiven: boolean } {
  return { vault: options.vault, caGiven: options.caFile !== undefined };
}

/** A Key Vault / identity / TLS failure as a one-line CLI error with a hint (never a stack trace). */
function vaultError(err: unknown, action: string, what: string, ctx: { vault: string; caGiven: boolean }): Error {
  if (err instanceof CliError) return err;
  if (isFlyteSecretsError(err)) return err;
  const status = (err as { statusCode?: unknown }).statusCode;
  const code = (err as { code?: unknown }).code;
  const first = (errorMessage(err).split('\n')[0] ?? '').trim();
  if (status === 404) return new CliError(`${what} not found in the vault`, EXIT_NOT_FOUND, { cause: err });
  const name = (err as { name?: unknown }).name;
  let hint = '';
  if (name === 'CredentialUnavailableError' || name === 'AggregateAuthenticationError' || name === 'AuthenticationError') {
    hint = ' (no usable Azure credential: set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET or AZURE_FEDERATED_TOKEN_FILE, or run `az login`)';
  } else if (status === 401 || status === 403) {
    const role = action === 'read' || action === 'get' || action === 'list' ? 'Key Vault Secrets User (or Officer)' : 'Key Vault Secrets Officer';
    hint = ` (check that your identity has the ${role} role on this vault)`;
  }
  else if (status === 409) hint = ' (a deleted secret with this name still exists: recover it, or purge it with `flyte-secrets secret delete --purge`)';
  else if (status === 429) hint = ' (Key Vault is throttling; retry in a few seconds)';
  else if (typeof code === 'string' && isTlsErrorCode(code)) {
    let host = ctx.vault;
    try {
      host = new URL(ctx.vault).hostname;
    } catch {
      // keep the text as given
    }
    const caGiven = ctx.caGiven || (process.env.NODE_EXTRA_CA_CERTS ?? '') !== '';
    return new CliError(`cannot ${action} ${what}: ${describeTlsProblem(err, { host, server: 'the vault', caOption: '--ca-file (or NODE_EXTRA_CA_CERTS)', caGiven }) ?? first}`, 1, { cause: err });
  } else if (typeof code === 'string' && ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET'].includes(code)) {
    hint = ' (check the --vault URL and your network)';
  }
  return new CliError(`cannot ${action} ${what}: ${first}${typeof status === 'number' ? ` (HTTP ${status})` : ''}${hint}`, 1, { cause: err });
}

async function invalidate(url: string, id: FlyteSecretId): Promise<void> {
  const target = new URL(url);
  if (target.pathname === '/' || target.pathname === '') target.pathname = '/invalidate-secret';
  const token = process.env.FLYTE_SECRETS_INVALIDATION_TOKEN ?? '';
  try {
    const res = await withDeadline(5000, undefined, (signal) =>
      fetch(target, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token !== '' ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ org: id.org, domain: id.domain, project: id.project, name: id.name }),
        signal,
      }),
    );
    if (!res.ok) process.stderr.write(`warning: cache invalidation at ${target.href} answered HTTP ${res.status}; the webhook may serve the old value until its cache expires\n`);
  } catch (err) {
    process.stderr.write(`warning: cache invalidation at ${target.href} failed (${errorMessage(err)}); the webhook may serve the old value until its cache expires\n`);
  }
}

async function runCreate(name: string, options: CreateOptions): Promise<void> {
  const id = secretIdOf(name, options);
  if ((options.value === undefined) === (options.fromFile === undefined)) throw new CliError('give the value with exactly one of --value V or --from-file F (use --from-file - to read standard input)', 2);
  const content = options.value ?? new Uint8Array(await readInput(options.fromFile ?? '-'));
  const { envelope, kind } = envelopeFor(content, options.binary === true);
  const size = Buffer.byteLength(envelope, 'utf8');
  if (size > KEY_VAULT_MAX_VALUE_BYTES) {
    throw new CliError(`the value is too large for Key Vault: its envelope is ${size} bytes, the limit is ${KEY_VAULT_MAX_VALUE_BYTES} (about ${kind === 'binary' ? '19' : '25'} KB of ${kind === 'binary' ? 'binary' : 'text'} data)`, 1);
  }
  const kvName = keyVaultNameForId(id);
  const client = await clientFor(options);
  let version: string;
  try {
    version = (await client.setSecret(kvName, envelope)).properties.version ?? '';
  } catch (err) {
    throw vaultError(err, 'create', `secret ${encodeSecretName(id)}`, vaultContext(options));
  }
  printLine(`created ${encodeSecretName(id)} (${describeScope(id)}, ${kind}) as Key Vault secret ${kvName}, version ${version}`);
  if (options.invalidateUrl !== undefined) await invalidate(options.invalidateUrl, id);
}

async function runGet(name: string, options: GetOptions): Promise<void> {
  const id = secretIdOf(name, options);
  const kvName = keyVaultNameForId(id);
  const client = await clientFor(options);
  let secret: Awaited<ReturnType<VaultClient['getSecret']>>;
  try {
    secret = await client.getSecret(kvName);
  } catch (err) {
    throw vaultError(err, 'read', `secret ${encodeSecretName(id)} (Key Vault secret ${kvName})`, vaultContext(options));
  }
  const text = secret.value ?? '';
  let kind = 'empty';
  let value: Uint8Array = new Uint8Array();
  if (text !== '') {
    try {
      const v = decodeKeyVaultValue(text, { plainValues: 'string' });
      kind = v.kind;
      value = v.bytes();
    } catch (err) {
      if (options.reveal === true) throw new CliError(`secret ${encodeSecretName(id)} holds a damaged Flyte envelope: ${errorMessage(err)}`, 1);
      kind = 'invalid envelope';
    }
  }
  if (options.reveal === true) {
    await writeBytes(value);
    return;
  }
  const meta = {
    id: encodeSecretName(id),
    name: id.name,
    scope: describeScope(id),
    org: id.org,
    domain: id.domain,
    project: id.project,
    keyVaultName: kvName,
    version: secret.properties.version ?? '',
    updated: (secret.properties.updatedOn ?? secret.properties.createdOn)?.toISOString() ?? '',
    enabled: secret.properties.enabled !== false,
    kind,
  };
  if (options.json === true) {
    printLine(JSON.stringify(meta));
    return;
  }
  printLine(
    [
      `name:     ${meta.name}`,
      `id:       ${meta.id}`,
      `scope:    ${meta.scope}`,
      `kind:     ${meta.kind}`,
      `version:  ${meta.version}`,
      `updated:  ${meta.updated}`,
      `enabled:  ${meta.enabled}`,
      `key vault name: ${meta.keyVaultName}`,
      '(the value is not shown; add --reveal to print it)',
    ].join('\n'),
  );
}

async function runList(options: ListOptions): Promise<void> {
  if (options.project !== undefined && options.domain === undefined) throw new CliError('--project needs --domain', 2);
  const client = await clientFor(options);
  const rows: Array<{ id: string; org: string; domain: string; project: string; name: string; keyVaultName: string; enabled: boolean; updated: string }> = [];
  let others = 0;
  try {
    for await (const p of client.listPropertiesOfSecrets()) {
      let id: FlyteSecretId;
      try {
        id = decodeKeyVaultName(p.name);
      } catch {
        others++;
        continue;
      }
      if (options.org !== undefined && id.org !== options.org) continue;
      if (options.domain !== undefined && id.domain !== options.domain) continue;
      if (options.project !== undefined && id.project !== options.project) continue;
      rows.push({ id: encodeSecretName(id), org: id.org, domain: id.domain, project: id.project, name: id.name, keyVaultName: p.name, enabled: p.enabled !== false, updated: p.updatedOn?.toISOString() ?? '' });
    }
  } catch (err) {
    throw vaultError(err, 'list', 'the secrets of the vault', vaultContext(options));
  }
  rows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (options.json === true) printLine(JSON.stringify(rows));
  else for (const r of rows) printLine(r.id);
  if (others > 0 && options.json !== true) process.stderr.write(`(${others} other secret${others === 1 ? '' : 's'} in this vault ${others === 1 ? 'is' : 'are'} not Flyte secrets)\n`);
}

async function runDelete(name: string, options: DeleteOptions): Promise<void> {
  const id = secretIdOf(name, options);
  const kvName = keyVaultNameForId(id);
  const client = await clientFor(options);
  const what = `secret ${encodeSecretName(id)} (Key Vault secret ${kvName})`;
  let deleted: { scheduledPurgeDate?: Date | undefined; recoveryId?: string | undefined };
  try {
    const poller = await client.beginDeleteSecret(kvName, { intervalInMs: 250 });
    deleted = await poller.pollUntilDone();
  } catch (err) {
    throw vaultError(err, 'delete', what, vaultContext(options));
  }
  if (options.purge === true) {
    try {
      await client.purgeDeletedSecret(kvName);
    } catch (err) {
      throw vaultError(err, 'purge', what, vaultContext(options));
    }
    printLine(`deleted and purged ${encodeSecretName(id)} (${describeScope(id)})`);
  } else {
    const until = deleted.scheduledPurgeDate ? ` until ${deleted.scheduledPurgeDate.toISOString()}` : '';
    printLine(`deleted ${encodeSecretName(id)} (${describeScope(id)}); recoverable${until}; add --purge to remove it for good`);
  }
  if (options.invalidateUrl !== undefined) await invalidate(options.invalidateUrl, id);
}

const AUTH_HELP = `
Authentication: DefaultAzureCredential from the standard environment (AZURE_TENANT_ID, AZURE_CLIENT_ID and
AZURE_CLIENT_SECRET or AZURE_FEDERATED_TOKEN_FILE, AZURE_AUTHORITY_HOST; or managed identity, or \`az login\`).
TLS: trust a private CA with --ca-file or NODE_EXTRA_CA_CERTS. The vault URL may also come from FLYTE_SECRETS_VAULT_URL.
Scope: --org (default flyte), --domain, --project; leave out --project for a domain-wide secret, both for an org-wide
one. Tasks of a project see project, then domain, then org secrets of the same name (the most specific wins).`;

/** Register the `secret` command group on `program`. */
export function register(program: Command): void {
  const secret = program
    .command('secret')
    .description('Create, read, list and delete Flyte-native secrets in Azure Key Vault (the names and envelope the webhook reads)')
    .addHelpText(
      'after',
      `${AUTH_HELP}\n\nExamples:\n` +
        '  $ export FLYTE_SECRETS_VAULT_URL=https://myvault.vault.azure.net\n' +
        '  $ flyte-secrets secret create --domain development --project flytesnacks db-password --from-file ./pw.txt\n' +
        '  $ flyte-secrets secret create my-org-token --value "$TOKEN"            # org-wide\n' +
        '  $ flyte-secrets secret list --domain development\n' +
        '  $ flyte-secrets secret get --domain development --project flytesnacks db-password\n' +
        '  $ flyte-secrets secret get --domain development --project flytesnacks db-password --reveal > pw.txt\n' +
        '  $ flyte-secrets secret delete --domain development --project flytesnacks db-password --purge',
    );

  addScope(addCommon(secret.command('create')))
    .description('Store a secret (a new version when it exists) as Flyte\'s {"type","value"} envelope')
    .argument('<name>', 'the secret key as tasks request it (put -- before a name that starts with "-")')
    .option('--value <value>', 'the value as text (visible in shell history and process lists; prefer --from-file)')
    .option('--from-file <file>', 'read the value from a file, or - for standard input (stored as binary when not UTF-8)')
    .option('--binary', 'store the value as BINARY even when it is valid UTF-8')
    .option('--invalidate-url <url>', "then ask the webhook's cache-invalidation endpoint to forget the old value (e.g. http://flyte-pod-webhook-headless.flyte.svc:9444); bearer token from FLYTE_SECRETS_INVALIDATION_TOKEN")
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  $ flyte-secrets secret create --vault https://myvault.vault.azure.net --domain development --project flytesnacks db-password --from-file ./pw.txt\n' +
        '  $ printf %s "$TOKEN" | flyte-secrets secret create --vault https://myvault.vault.azure.net api-token --from-file -\n' +
        '  $ flyte-secrets secret create --vault https://myvault.vault.azure.net --domain production tls-key --from-file ./key.der',
    )
    .action((name: string, options: CreateOptions) => runCreate(name, options));

  addScope(addCommon(secret.command('get')))
    .description('Show a secret\'s metadata (name, scope, version, updated, kind); the value only with --reveal')
    .argument('<name>', 'the secret key')
    .option('--reveal', 'print the value itself (raw bytes, no newline added) instead of the metadata')
    .option('--json', 'print the metadata as one JSON object')
    .addHelpText(
      'after',
      `\nExit status ${EXIT_NOT_FOUND} when the secret does not exist at exactly this scope.\n\nExamples:\n` +
        '  $ flyte-secrets secret get --vault https://myvault.vault.azure.net --domain development db-password\n' +
        '  $ flyte-secrets secret get --vault https://myvault.vault.azure.net --domain development db-password --reveal',
    )
    .action((name: string, options: GetOptions) => runGet(name, options));

  addCommon(secret.command('list'))
    .description('Print the Flyte ids (u__org__…__key__<name>) of the Flyte secrets in the vault, sorted; other secrets are skipped')
    .option('--org <org>', 'only this organisation')
    .option('--domain <domain>', 'only this domain ("" = org-wide secrets)')
    .option('--project <project>', 'only this project ("" = domain-wide secrets); needs --domain')
    .option('--json', 'print a JSON array of {id, org, domain, project, name, keyVaultName, enabled, updated}')
    .addHelpText('after', '\nExample:\n  $ flyte-secrets secret list --vault https://myvault.vault.azure.net --org flyte --domain development')
    .action((options: ListOptions) => runList(options));

  addScope(addCommon(secret.command('delete')))
    .description('Delete a secret (soft delete: recoverable); --purge removes it for good')
    .argument('<name>', 'the secret key')
    .option('--purge', 'also purge the deleted secret (cannot be undone)')
    .option('--invalidate-url <url>', "then ask the webhook's cache-invalidation endpoint to forget the value")
    .addHelpText(
      'after',
      `\nExit status ${EXIT_NOT_FOUND} when the secret does not exist.\n\nExample:\n` +
        '  $ flyte-secrets secret delete --vault https://myvault.vault.azure.net --domain development db-password --purge',
    )
    .action((name: string, options: DeleteOptions) => runDelete(name, options));
}
