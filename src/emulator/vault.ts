/**
 * The Key Vault secrets store and its REST API, without sockets: {@link VaultState} keeps secrets, versions and
 * soft-deleted secrets in memory; {@link routeVaultRequest} names the operation of a request and
 * {@link executeVaultRequest} answers it with Key Vault's wire shapes and error bodies
 * (`{"error":{"code","message"}}`), as the official SDK expects (see `/docs/emulator.md`).
 *
 * Behaviours chosen to match the real service:
 * - names are 1–127 characters of `0-9a-zA-Z-`, looked up case-insensitively (400 `BadParameter` otherwise);
 * - values are at most 25,600 UTF-8 bytes (400 `BadParameter`);
 * - `get` of a disabled version is 403 `Forbidden` «Operation get is not allowed on a disabled secret.»;
 * - `get` of a not-yet-valid (`nbf`) or expired (`exp`) secret succeeds: Key Vault documents `nbf`/`exp` of secrets
 *   as informational and lets `get` work outside the window ("Date-time controlled operations", about-secrets);
 * - `set` on a deleted-but-recoverable name is 409 `Conflict`;
 * - an `api-version` Key Vault does not know, or none, is 400 `BadParameter` ({@link apiVersionProblem}).
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { FlyteSecretsError } from '../errors.js';

/** Largest secret value Key Vault accepts, in bytes (25 KiB). */
export const MAX_SECRET_VALUE_BYTES = 25_600;
/** Key Vault's secret-name rule. */
export const SECRET_NAME_PATTERN = /^[0-9a-zA-Z-]{1,127}$/;
/** Page size Key Vault uses when `maxresults` is absent, and the largest it accepts. */
export const MAX_PAGE_SIZE = 25;
const MAX_TAGS = 15;
const MAX_TAG_LENGTH = 512;
const MAX_CONTENT_TYPE_LENGTH = 255;

/** A Key Vault error answer: HTTP status, Key Vault error code, message and optional inner error code. */
export class KeyVaultError extends FlyteSecretsError {
  readonly status: number;
  readonly kvCode: string;
  readonly innerCode: string | undefined;

  constructor(status: number, kvCode: string, message: string, innerCode?: string) {
    super(status === 404 ? 'SecretNotFound' : 'InvalidInput', message);
    this.status = status;
    this.kvCode = kvCode;
    this.innerCode = innerCode;
  }

  /** The wire body: `{"error":{"code","message"[,"innererror":{"code"}]}}`. */
  toBody(): { error: { code: string; message: string; innererror?: { code: string } } } {
    return {
      error: {
        code: this.kvCode,
        message: this.message,
        ...(this.innerCode === undefined ? {} : { innererror: { code: this.innerCode } }),
      },
    };
  }
}

const badParameter = (message: string): KeyVaultError => new KeyVaultError(400, 'BadParameter', message);

/**
 * The secrets data-plane API versions Key Vault knows (the GA ones and the previews the SDKs have used), newest last.
 * `@azure/keyvault-secrets` 4.12 sends `2026-04-01` unless given another `serviceVersion`.
 */
export const KNOWN_API_VERSIONS: readonly string[] = [
  '2016-10-01',
  '7.0',
  '7.1',
  '7.2-preview',
  '7.2',
  '7.3-preview',
  '7.3',
  '7.4-preview.1',
  '7.4',
  '7.5-preview.1',
  '7.5',
  '7.6-preview.1',
  '7.6-preview.2',
  '7.6',
  '2025-07-01',
  '2026-04-01',
];
const LATEST_API_VERSION = KNOWN_API_VERSIONS[KNOWN_API_VERSIONS.length - 1]!;

/**
 * Key Vault's answer to an `api-version` it does not know (or none): 400 `BadParameter` «The specified version (<v>)
 * is not recognized. Consider using the latest supported version (<latest>).»; undefined for a known one.
 *
 * @example
 * ```ts
 * apiVersionProblem(new URLSearchParams('api-version=7.5')) // undefined
 * apiVersionProblem(new URLSearchParams('api-version=2099-01-01'))?.status // 400
 * ```
 */
export function apiVersionProblem(query: URLSearchParams): KeyVaultError | undefined {
  const version = query.get('api-version');
  if (version !== null && KNOWN_API_VERSIONS.includes(version)) return undefined;
  if (version === null) return badParameter(`The api-version query parameter is missing. Consider using the latest supported version (${LATEST_API_VERSION}).`);
  return badParameter(`The specified version (${version.slice(0, 64)}) is not recognized. Consider using the latest supported version (${LATEST_API_VERSION}).`);
}

/** Attributes of a secret version, as given to {@link VaultState.set}. Times are Unix seconds. */
export interface SecretAttributesInput {
  enabled?: boolean;
  nbf?: number;
  exp?: number;
}

/** What {@link VaultState.set} takes. */
export interface SetSecretInput {
  value: string;
  contentType?: string;
  tags?: Record<string, string>;
  attributes?: SecretAttributesInput;
}

/** What {@link VaultState.update} takes (fields left out keep their value). */
export interface UpdateSecretInput {
  contentType?: string;
  tags?: Record<string, string>;
  attributes?: SecretAttributesInput;
}

/** One stored version. */
export interface SecretVersionRecord {
  readonly name: string;
  readonly version: string;
  readonly value: string;
  contentType: string | undefined;
  tags: Record<string, string> | undefined;
  enabled: boolean;
  nbf: number | undefined;
  exp: number | undefined;
  readonly created: number;
  updated: number;
  readonly seq: number;
}

interface SecretRecord {
  name: string;
  versions: SecretVersionRecord[];
  deleted: { deletedDate: number; scheduledPurgeDate: number } | undefined;
}

/** Options of {@link VaultState}. */
export interface VaultStateOptions {
  /** Clock in ms, for tests. Default `Date.now`. */
  now?: () => number;
  /** Soft delete on (default): deleted secrets can be recovered or purged. Off: delete removes at once. */
  softDelete?: boolean;
  /** Retention reported in `recoverableDays` / `scheduledPurgeDate`. Default 90. Nothing is purged automatically. */
  recoverableDays?: number;
}

/** Validate a secret name; throws 400 `BadParameter` with Key Vault's wording. */
export function checkSecretName(name: string): void {
  if (!SECRET_NAME_PATTERN.test(name)) throw badParameter(`The request URI contains an invalid name: ${name}`);
}

function notFound(name: string): KeyVaultError {
  return new KeyVaultError(
    404,
    'SecretNotFound',
    `A secret with (name/id) ${name} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
  );
}

function deletedNotFound(name: string): KeyVaultError {
  return new KeyVaultError(404, 'SecretNotFound', `Deleted Secret not found: ${name}`);
}

function checkSetInput(input: SetSecretInput | UpdateSecretInput): void {
  if ('value' in input) {
    const size = Buffer.byteLength(input.value, 'utf8');
    if (size > MAX_SECRET_VALUE_BYTES) {
      throw badParameter(`The secret value is ${size} bytes long; the maximum secret value size is ${MAX_SECRET_VALUE_BYTES} bytes.`);
    }
  }
  if (input.contentType !== undefined && input.contentType.length > MAX_CONTENT_TYPE_LENGTH) {
    throw badParameter(`The content type is longer than ${MAX_CONTENT_TYPE_LENGTH} characters.`);
  }
  if (input.tags !== undefined) {
    const entries = Object.entries(input.tags);
    if (entries.length > MAX_TAGS) throw badParameter(`A secret can have at most ${MAX_TAGS} tags.`);
    for (const [k, v] of entries) {
      if (k.length > MAX_TAG_LENGTH || v.length > MAX_TAG_LENGTH) {
        throw badParameter(`Tag names and values can be at most ${MAX_TAG_LENGTH} characters long.`);
      }
    }
  }
}

/**
 * The emulated vault's secrets. Synchronous and I/O-free; all errors are {@link KeyVaultError}s.
 *
 * @example
 * ```ts
 * const vault = new VaultState();
 * const v1 = vault.set('db-password', { value: 'hunter2' });
 * vault.get('DB-PASSWORD').value; // 'hunter2' (names are case-insensitive)
 * ```
 */
export class VaultState {
  readonly #secrets = new Map<string, SecretRecord>();
  readonly #now: () => number;
  readonly softDelete: boolean;
  readonly recoverableDays: number;
  #seq = 0;

  constructor(options: VaultStateOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.softDelete = options.softDelete ?? true;
    this.recoverableDays = options.recoverableDays ?? 90;
  }

  /** The recovery level reported in attributes. */
  get recoveryLevel(): string {
    return this.softDelete ? 'Recoverable+Purgeable' : 'Purgeable';
  }

  #seconds(): number {
    return Math.floor(this.#now() / 1000);
  }

  #live(name: string): SecretRecord {
    checkSecretName(name);
    const rec = this.#secrets.get(name.toLowerCase());
    if (!rec || rec.deleted) throw notFound(name);
    return rec;
  }

  #deleted(name: string): SecretRecord {
    checkSecretName(name);
    const rec = this.#secrets.get(name.toLowerCase());
    if (!rec?.deleted) throw deletedNotFound(name);
    return rec;
  }

  /** Throw what {@link set} would throw for this input, without storing anything. */
  validate(name: string, input: SetSecretInput): void {
    checkSecretName(name);
    checkSetInput(input);
    const rec = this.#secrets.get(name.toLowerCase());
    if (rec?.deleted) {
      throw new KeyVaultError(
        409,
        'Conflict',
        `Secret ${rec.name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.`,
        'ObjectIsDeletedButRecoverable',
      );
    }
  }

  /** Add a new version (the new latest). 409 when the name is deleted but recoverable. */
  set(name: string, input: SetSecretInput): SecretVersionRecord {
    this.validate(name, input);
    const key = name.toLowerCase();
    let rec = this.#secrets.get(key);
    if (!rec) {
      rec = { name, versions: [], deleted: undefined };
      this.#secrets.set(key, rec);
    }
    const now = this.#seconds();
    const version: SecretVersionRecord = {
      name: rec.name,
      version: randomBytes(16).toString('hex'),
      value: input.value,
      contentType: input.contentType,
      tags: input.tags === undefined ? undefined : { ...input.tags },
      enabled: input.attributes?.enabled ?? true,
      nbf: input.attributes?.nbf,
      exp: input.attributes?.exp,
      created: now,
      updated: now,
      seq: ++this.#seq,
    };
    rec.versions.push(version);
    return version;
  }

  /** Find a version (latest when `version` is empty) without the enabled check. */
  find(name: string, version = ''): SecretVersionRecord {
    const rec = this.#live(name);
    if (version === '') {
      const latest = rec.versions[rec.versions.length - 1];
      if (!latest) throw notFound(name);
      return latest;
    }
    const v = rec.versions.find((x) => x.version === version.toLowerCase());
    if (!v) throw notFound(`${name}/${version}`);
    return v;
  }

  /** Get a version's value (latest when `version` is empty). 403 when that version is disabled. */
  get(name: string, version = ''): SecretVersionRecord {
    const v = this.find(name, version);
    if (!v.enabled) {
      throw new KeyVaultError(403, 'Forbidden', 'Operation get is not allowed on a disabled secret.', 'SecretDisabled');
    }
    return v;
  }

  /** Change a version's attributes, tags or content type (latest when `version` is empty). */
  update(name: string, version: string, input: UpdateSecretInput): SecretVersionRecord {
    checkSetInput(input);
    const v = this.find(name, version);
    if (input.contentType !== undefined) v.contentType = input.contentType;
    if (input.tags !== undefined) v.tags = { ...input.tags };
    const a = input.attributes;
    if (a?.enabled !== undefined) v.enabled = a.enabled;
    if (a?.nbf !== undefined) v.nbf = a.nbf;
    if (a?.exp !== undefined) v.exp = a.exp;
    v.updated = this.#seconds();
    return v;
  }

  /** Latest version of every live secret, sorted by lower-case name (the paging order). */
  listLatest(): SecretVersionRecord[] {
    return [...this.#secrets.entries()]
      .filter(([, r]) => !r.deleted && r.versions.length > 0)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, r]) => r.versions[r.versions.length - 1] as SecretVersionRecord);
  }

  /** Every version of a live secret, oldest first. */
  listVersions(name: string): SecretVersionRecord[] {
    return [...this.#live(name).versions];
  }

  /** Soft-delete (or, with soft delete off, remove) a secret; returns its latest version and deletion dates. */
  delete(name: string): { latest: SecretVersionRecord; deletedDate: number; scheduledPurgeDate: number } {
    const rec = this.#live(name);
    const latest = rec.versions[rec.versions.length - 1] as SecretVersionRecord;
    const deletedDate = this.#seconds();
    const scheduledPurgeDate = deletedDate + this.recoverableDays * 86_400;
    if (this.softDelete) rec.deleted = { deletedDate, scheduledPurgeDate };
    else this.#secrets.delete(name.toLowerCase());
    return { latest, deletedDate, scheduledPurgeDate };
  }

  /** A deleted secret: its latest version and deletion dates. */
  getDeleted(name: string): { latest: SecretVersionRecord; deletedDate: number; scheduledPurgeDate: number } {
    const rec = this.#deleted(name);
    return { latest: rec.versions[rec.versions.length - 1] as SecretVersionRecord, ...(rec.deleted as NonNullable<SecretRecord['deleted']>) };
  }

  /** Every deleted secret, sorted by lower-case name. */
  listDeleted(): { latest: SecretVersionRecord; deletedDate: number; scheduledPurgeDate: number }[] {
    return [...this.#secrets.entries()]
      .filter(([, r]) => r.deleted !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, r]) => ({ latest: r.versions[r.versions.length - 1] as SecretVersionRecord, ...(r.deleted as NonNullable<SecretRecord['deleted']>) }));
  }

  /** Undo a delete; returns the latest version. */
  recover(name: string): SecretVersionRecord {
    const rec = this.#deleted(name);
    rec.deleted = undefined;
    return rec.versions[rec.versions.length - 1] as SecretVersionRecord;
  }

  /** Remove a deleted secret for good. */
  purge(name: string): void {
    this.#deleted(name);
    this.#secrets.delete(name.toLowerCase());
  }

  /** Number of live secrets. */
  get size(): number {
    let n = 0;
    for (const r of this.#secrets.values()) if (!r.deleted) n++;
    return n;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// REST layer

/** Operation names (also the counter names at `GET /_admin/stats`). */
export type VaultOperation =
  | 'get'
  | 'set'
  | 'update'
  | 'list'
  | 'listVersions'
  | 'delete'
  | 'getDeleted'
  | 'listDeleted'
  | 'recover'
  | 'purge'
  | 'unsupported';

/** A routed vault request: the operation and the (percent-decoded) path parameters. */
export interface VaultRoute {
  op: VaultOperation;
  name: string;
  version: string;
  /** Set when the path could not be decoded or matched: answered with this error. */
  error?: KeyVaultError;
}

/** A response to write: status, JSON body (or none) and extra headers. */
export interface VaultResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

function decodeSegment(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

/**
 * Name the operation of `method pathname` (pathname without the query). Returns `undefined` for paths outside
 * `/secrets` and `/deletedsecrets`.
 *
 * @example
 * ```ts
 * routeVaultRequest('GET', '/secrets/db/')          // { op: 'get', name: 'db', version: '' }
 * routeVaultRequest('POST', '/deletedsecrets/db/recover') // { op: 'recover', name: 'db', version: '' }
 * ```
 */
export function routeVaultRequest(method: string, pathname: string): VaultRoute | undefined {
  const raw = pathname.split('/').slice(1);
  const root = raw[0]?.toLowerCase();
  if (root !== 'secrets' && root !== 'deletedsecrets') return undefined;
  const segs: string[] = [];
  for (const s of raw.slice(1)) {
    const d = decodeSegment(s);
    if (d === undefined) return { op: 'unsupported', name: s, version: '', error: badParameter(`The request URI contains an invalid name: ${s}`) };
    segs.push(d);
  }
  // A trailing slash means "latest" (`/secrets/<name>/`); drop one empty last segment.
  if (segs.length > 0 && segs[segs.length - 1] === '') segs.pop();
  const m = method.toUpperCase();
  const unsupported = (): VaultRoute => ({
    op: 'unsupported',
    name: '',
    version: '',
    error: new KeyVaultError(405, 'MethodNotAllowed', `The emulator does not support ${m} ${pathname}.`),
  });
  const [a, b, ...rest] = segs;
  if (rest.length > 0) return unsupported();
  if (root === 'secrets') {
    if (a === undefined) return m === 'GET' ? { op: 'list', name: '', version: '' } : unsupported();
    if (b === 'versions' && m === 'GET') return { op: 'listVersions', name: a, version: '' };
    if (m === 'GET') return { op: 'get', name: a, version: b ?? '' };
    if (m === 'PUT' && b === undefined) return { op: 'set', name: a, version: '' };
    if (m === 'PATCH') return { op: 'update', name: a, version: b ?? '' };
    if (m === 'DELETE' && b === undefined) return { op: 'delete', name: a, version: '' };
    return unsupported();
  }
  if (a === undefined) return m === 'GET' ? { op: 'listDeleted', name: '', version: '' } : unsupported();
  if (b === undefined && m === 'GET') return { op: 'getDeleted', name: a, version: '' };
  if (b === undefined && m === 'DELETE') return { op: 'purge', name: a, version: '' };
  if (b === 'recover' && m === 'POST') return { op: 'recover', name: a, version: '' };
  return unsupported();
}

/** Everything {@link executeVaultRequest} needs besides the state. */
export interface VaultRequest {
  route: VaultRoute;
  /** Decoded query parameters (keys decoded: `api%2Dversion` arrives as `api-version`). */
  query: URLSearchParams;
  /** Request body text ('' when none). */
  body: string;
  /** `https://host[:port]` the client used; ids and `nextLink` are built on it. */
  baseUrl: string;
}

function attributes(v: SecretVersionRecord, state: VaultState): Record<string, unknown> {
  return {
    enabled: v.enabled,
    ...(v.nbf === undefined ? {} : { nbf: v.nbf }),
    ...(v.exp === undefined ? {} : { exp: v.exp }),
    created: v.created,
    updated: v.updated,
    recoveryLevel: state.recoveryLevel,
    ...(state.softDelete ? { recoverableDays: state.recoverableDays } : {}),
  };
}

function common(v: SecretVersionRecord): Record<string, unknown> {
  return {
    ...(v.contentType === undefined ? {} : { contentType: v.contentType }),
    ...(v.tags === undefined ? {} : { tags: { ...v.tags } }),
  };
}

function secretId(base: string, v: SecretVersionRecord, withVersion: boolean): string {
  return `${base}/secrets/${v.name}${withVersion ? `/${v.version}` : ''}`;
}

/** The SecretBundle wire shape; `withValue: false` for responses that carry no value (update, recover, delete). */
export function secretBundle(state: VaultState, base: string, v: SecretVersionRecord, withValue = true): Record<string, unknown> {
  return {
    ...(withValue ? { value: v.value } : {}),
    id: secretId(base, v, true),
    ...common(v),
    attributes: attributes(v, state),
  };
}

function deletedBundle(state: VaultState, base: string, d: { latest: SecretVersionRecord; deletedDate: number; scheduledPurgeDate: number }, item: boolean): Record<string, unknown> {
  return {
    ...(state.softDelete ? { recoveryId: `${base}/deletedsecrets/${d.latest.name}` } : {}),
    ...(state.softDelete ? { deletedDate: d.deletedDate, scheduledPurgeDate: d.scheduledPurgeDate } : {}),
    id: secretId(base, d.latest, !item),
    ...common(d.latest),
    attributes: attributes(d.latest, state),
  };
}

function parseJsonObject(body: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body === '' ? 'null' : body);
  } catch {
    throw badParameter('The request body is not valid JSON.');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw badParameter('The request body must be a JSON object.');
  return parsed as Record<string, unknown>;
}

function parseTags(v: unknown): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v) || !Object.values(v).every((x) => typeof x === 'string')) {
    throw badParameter('Property tags must be an object of string values.');
  }
  return { ...(v as Record<string, string>) };
}

function parseAttributes(v: unknown): SecretAttributesInput | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw badParameter('Property attributes must be an object.');
  const o = v as Record<string, unknown>;
  const out: SecretAttributesInput = {};
  if (o.enabled !== undefined && o.enabled !== null) {
    if (typeof o.enabled !== 'boolean') throw badParameter('Property attributes.enabled must be a boolean.');
    out.enabled = o.enabled;
  }
  for (const k of ['nbf', 'exp'] as const) {
    const t = o[k];
    if (t === undefined || t === null) continue;
    if (typeof t !== 'number' || !Number.isInteger(t)) throw badParameter(`Property attributes.${k} must be an integer (Unix seconds).`);
    out[k] = t;
  }
  return out;
}

function parseContentType(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw badParameter('Property contentType must be a string.');
  return v;
}

function parseSetBody(body: string): SetSecretInput {
  const o = parseJsonObject(body);
  if (typeof o.value !== 'string') throw badParameter('Property value is required and must be a string.');
  return { value: o.value, ...updateFields(o) };
}

function parseUpdateBody(body: string): UpdateSecretInput {
  return updateFields(parseJsonObject(body));
}

/** The optional fields a set or an update may carry: content type, tags, attributes. */
function updateFields(o: Record<string, unknown>): UpdateSecretInput {
  const input: UpdateSecretInput = {};
  const contentType = parseContentType(o.contentType);
  const tags = parseTags(o.tags);
  const attrs = parseAttributes(o.attributes);
  if (contentType !== undefined) input.contentType = contentType;
  if (tags !== undefined) input.tags = tags;
  if (attrs !== undefined) input.attributes = attrs;
  return input;
}

interface PageCursor {
  /** Key of the last item returned (lower-case name, or a version sequence number). */
  k: string | number;
}

function pageSize(query: URLSearchParams): number {
  const raw = query.get('maxresults');
  if (raw === null || raw === '') return MAX_PAGE_SIZE;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > MAX_PAGE_SIZE) {
    throw badParameter(`Invalid maxresults ${raw}: it must be an integer from 1 to ${MAX_PAGE_SIZE}.`);
  }
  return n;
}

function readCursor(query: URLSearchParams): PageCursor | undefined {
  const raw = query.get('$skiptoken');
  if (raw === null || raw === '') return undefined;
  try {
    const c = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as unknown;
    if (c !== null && typeof c === 'object' && 'k' in c && (typeof c.k === 'string' || typeof c.k === 'number')) return { k: c.k };
  } catch {
    // fall through
  }
  throw badParameter('The $skiptoken is not valid.');
}

function page<T>(
  items: T[],
  keyOf: (t: T) => string | number,
  req: VaultRequest,
  path: string,
  toWire: (t: T) => unknown,
): { value: unknown[]; nextLink: string | null } {
  const size = pageSize(req.query);
  const cursor = readCursor(req.query);
  const start = cursor === undefined ? 0 : items.findIndex((t) => keyOf(t) > cursor.k);
  const rest = start < 0 ? [] : items.slice(start);
  const chunk = rest.slice(0, size);
  let nextLink: string | null = null;
  const last = chunk[chunk.length - 1];
  if (rest.length > size && last !== undefined) {
    const next = new URLSearchParams();
    const apiVersion = req.query.get('api-version');
    if (apiVersion !== null) next.set('api-version', apiVersion);
    next.set('$skiptoken', Buffer.from(JSON.stringify({ k: keyOf(last) })).toString('base64url'));
    next.set('maxresults', String(size));
    nextLink = `${req.baseUrl}${path}?${next.toString().replace('%24skiptoken', '$skiptoken')}`;
  }
  return { value: chunk.map(toWire), nextLink };
}

/**
 * Answer an authenticated, routed vault request. Never throws: errors become Key Vault error responses.
 *
 * @example
 * ```ts
 * const route = routeVaultRequest('GET', '/secrets/db/')!;
 * executeVaultRequest(vault, { route, query: new URLSearchParams(), body: '', baseUrl: 'https://127.0.0.1:8443' });
 * // { status: 200, body: { value: '…', id: 'https://127.0.0.1:8443/secrets/db/<version>', attributes: {…} } }
 * ```
 */
export function executeVaultRequest(state: VaultState, req: VaultRequest): VaultResponse {
  try {
    return execute(state, req);
  } catch (err) {
    if (err instanceof KeyVaultError) return { status: err.status, body: err.toBody() };
    throw err;
  }
}

function execute(state: VaultState, req: VaultRequest): VaultResponse {
  const { route, baseUrl: base } = req;
  if (route.error) throw route.error;
  const { name, version } = route;
  switch (route.op) {
    case 'get':
      return { status: 200, body: secretBundle(state, base, state.get(name, version)) };
    case 'set': {
      checkSecretName(name);
      const v = state.set(name, parseSetBody(req.body));
      return { status: 200, body: secretBundle(state, base, v) };
    }
    case 'update': {
      checkSecretName(name);
      const v = state.update(name, version, parseUpdateBody(req.body));
      return { status: 200, body: secretBundle(state, base, v, false) };
    }
    case 'list':
      return {
        status: 200,
        body: page(state.listLatest(), (v) => v.name.toLowerCase(), req, '/secrets', (v) => ({ id: secretId(base, v, false), ...common(v), attributes: attributes(v, state) })),
      };
    case 'listVersions': {
      const versions = state.listVersions(name);
      const secretName = versions[0]?.name ?? name;
      return {
        status: 200,
        body: page(versions, (v) => v.seq, req, `/secrets/${secretName}/versions`, (v) => ({ id: secretId(base, v, true), ...common(v), attributes: attributes(v, state) })),
      };
    }
    case 'delete':
      return { status: 200, body: deletedBundle(state, base, state.delete(name), false) };
    case 'getDeleted':
      return { status: 200, body: deletedBundle(state, base, state.getDeleted(name), false) };
    case 'listDeleted':
      return { status: 200, body: page(state.listDeleted(), (d) => d.latest.name.toLowerCase(), req, '/deletedsecrets', (d) => deletedBundle(state, base, d, true)) };
    case 'recover':
      return { status: 200, body: secretBundle(state, base, state.recover(name), false) };
    case 'purge':
      state.purge(name);
      return { status: 204 };
    case 'unsupported':
      throw new KeyVaultError(405, 'MethodNotAllowed', 'The emulator does not support this operation.');
  }
}
