/**
 * AdmissionReview wire types (`admission.k8s.io/v1` and `v1beta1`) and their codec: a strict parser for what the
 * API server sends, and a builder for what the webhook answers. kubernetes-types has no AdmissionReview, so the
 * shapes are defined here from the Kubernetes API reference.
 *
 * Nothing here does I/O; the server feeds bytes in and writes the built object out.
 *
 * @module
 */
import { FlyteSecretsError, type ErrorOptions } from '../errors.js';
import { jsonNumber, jsonString, jsonStringList } from '../json-text.js';

/** The AdmissionReview API versions this webhook accepts; it answers in the version it was asked in. */
export const ADMISSION_API_VERSIONS = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'] as const;
/** One of {@link ADMISSION_API_VERSIONS}. */
export type AdmissionApiVersion = (typeof ADMISSION_API_VERSIONS)[number];

/** Most warnings returned in one response (the API server shows each to the client; keep the list short). */
export const MAX_WARNINGS = 10;
/** Longest warning kept, in characters; longer ones are cut (the API server truncates them too). */
export const MAX_WARNING_LENGTH = 256;

/** `metav1.GroupVersionKind`. */
export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

/** `metav1.GroupVersionResource`. */
export interface GroupVersionResource {
  group: string;
  version: string;
  resource: string;
}

/** `authentication/v1.UserInfo`. */
export interface UserInfo {
  username?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

/** The admission operations Kubernetes knows; kept open (`string`) so an unknown one does not break parsing. */
export type AdmissionOperation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT' | (string & {});

/** `admission/v1.AdmissionRequest` (identical in v1beta1 for the fields used here). */
export interface AdmissionRequest {
  /** Identifies this admission call; copied into the response. Always present. */
  uid: string;
  kind: GroupVersionKind;
  resource: GroupVersionResource;
  subResource?: string;
  requestKind?: GroupVersionKind;
  requestResource?: GroupVersionResource;
  requestSubResource?: string;
  /** Object name; often empty on CREATE (generateName pods). */
  name?: string;
  namespace?: string;
  operation: AdmissionOperation;
  userInfo?: UserInfo;
  /** The object being admitted (a Pod for us), as JSON. */
  object?: unknown;
  oldObject?: unknown;
  /** True when the request will not be persisted: the webhook must not have side effects. */
  dryRun?: boolean;
  options?: unknown;
}

/** `metav1.Status`, as carried in `response.status`. */
export interface AdmissionStatus {
  code?: number;
  message?: string;
  reason?: string;
  status?: 'Success' | 'Failure';
}

/** `admission/v1.AdmissionResponse`. */
export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: AdmissionStatus;
  /** base64 of an RFC 6902 JSON Patch document. */
  patch?: string;
  patchType?: 'JSONPatch';
  auditAnnotations?: Record<string, string>;
  warnings?: string[];
}

/** `admission/v1.AdmissionReview`: the envelope both ways. */
export interface AdmissionReview {
  apiVersion: AdmissionApiVersion;
  kind: 'AdmissionReview';
  request?: AdmissionRequest;
  response?: AdmissionResponse;
}

/** A review that passed {@link parseAdmissionReview}: its version and a request with a uid. */
export interface ParsedAdmissionReview {
  apiVersion: AdmissionApiVersion;
  request: AdmissionRequest;
}

/**
 * A request body that is not a usable AdmissionReview. The server answers it with HTTP 400 and {@link message}.
 * Code `InvalidInput`.
 */
export class AdmissionReviewError extends FlyteSecretsError {
  /** The HTTP status to answer with. */
  readonly status = 400;

  constructor(message: string, options: ErrorOptions = {}) {
    super('InvalidInput', message, options);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(obj: Record<string, unknown>, key: string, where: string): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new AdmissionReviewError(`invalid AdmissionReview: ${where}.${key} must be a string`);
  return v;
}

function groupVersionField(obj: Record<string, unknown>, field: string, key: string): string {
  const v = obj[field];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new AdmissionReviewError(`invalid AdmissionReview: request.${key}.${field} must be a string`);
  return v;
}

function groupVersion<K extends string>(obj: Record<string, unknown>, key: string, last: K): Record<'group' | 'version' | K, string> | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (!isRecord(v)) throw new AdmissionReviewError(`invalid AdmissionReview: request.${key} must be an object`);
  // Field by field (no loop over a fresh array, no "request.<key>" string unless there is an error).
  const group = groupVersionField(v, 'group', key);
  const version = groupVersionField(v, 'version', key);
  const out = { group, version } as Record<'group' | 'version' | K, string>;
  out[last] = groupVersionField(v, last, key);
  return out;
}

/**
 * Parse and check an AdmissionReview request body. Accepts `admission.k8s.io/v1` and `v1beta1`.
 *
 * Throws {@link AdmissionReviewError} (→ HTTP 400) when the body is not JSON, not an AdmissionReview, has no
 * `request`, or no `request.uid`. Fields this webhook does not read are kept but not checked.
 *
 * @example
 * ```ts
 * const { apiVersion, request } = parseAdmissionReview(body);
 * request.uid // '705ab4f5-…'
 * ```
 */
export function parseAdmissionReview(body: Buffer | string): ParsedAdmissionReview {
  let doc: unknown;
  try {
    doc = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
  } catch (err) {
    throw new AdmissionReviewError('request body is not valid JSON: send an AdmissionReview (admission.k8s.io/v1) with Content-Type application/json', { cause: err });
  }
  if (!isRecord(doc)) throw new AdmissionReviewError('request body is not an AdmissionReview: expected a JSON object');
  const apiVersion = doc['apiVersion'];
  if (doc['kind'] !== 'AdmissionReview' || typeof apiVersion !== 'string' || !(ADMISSION_API_VERSIONS as readonly string[]).includes(apiVersion)) {
    throw new AdmissionReviewError(
      `request body is not an AdmissionReview: expected kind AdmissionReview with apiVersion ${ADMISSION_API_VERSIONS.join(' or ')}, got kind ${JSON.stringify(doc['kind'] ?? null)} apiVersion ${JSON.stringify(apiVersion ?? null)}`,
    );
  }
  const raw = doc['request'];
  if (!isRecord(raw)) throw new AdmissionReviewError('invalid AdmissionReview: request is missing');
  const uid = raw['uid'];
  if (typeof uid !== 'string' || uid === '') throw new AdmissionReviewError('invalid AdmissionReview: request.uid is missing');
  const dryRun = raw['dryRun'];
  if (dryRun !== undefined && dryRun !== null && typeof dryRun !== 'boolean') throw new AdmissionReviewError('invalid AdmissionReview: request.dryRun must be a boolean');

  // Every other field is kept as it came; dryRun is left out here and set below only when it is a boolean (a
  // delete afterwards would turn the object into a slow dictionary).
  const { dryRun: _dryRun, ...rest } = raw as Partial<AdmissionRequest>;
  const request: AdmissionRequest = {
    ...rest,
    uid,
    kind: groupVersion(raw, 'kind', 'kind') ?? { group: '', version: '', kind: '' },
    resource: groupVersion(raw, 'resource', 'resource') ?? { group: '', version: '', resource: '' },
    operation: optionalString(raw, 'operation', 'request') ?? '',
  };
  const subResource = optionalString(raw, 'subResource', 'request');
  const name = optionalString(raw, 'name', 'request');
  const namespace = optionalString(raw, 'namespace', 'request');
  if (subResource !== undefined) request.subResource = subResource;
  if (name !== undefined) request.name = name;
  if (namespace !== undefined) request.namespace = namespace;
  if (typeof dryRun === 'boolean') request.dryRun = dryRun;
  return { apiVersion: apiVersion as AdmissionApiVersion, request };
}

/** What the webhook decided, before it is put on the wire. */
export type AdmissionDecision =
  | {
      allowed: true;
      /** RFC 6902 operations; omitted or empty = no patch. */
      patch?: readonly unknown[];
      /** `JSON.stringify(patch)`, when the caller has it already (it is then not serialised again). */
      patchJson?: string;
      /** Shown as `status.message` (e.g. Flyte's «No changes»). */
      message?: string;
      warnings?: readonly string[];
    }
  | {
      allowed: false;
      /** HTTP-style code in `status.code`; Flyte uses 400 for every denial. */
      code: number;
      message: string;
      /** `metav1.StatusReason`; defaults to `BadRequest` for 400, `Forbidden` for 403, else `InternalError`. */
      reason?: string;
      warnings?: readonly string[];
    };

function defaultReason(code: number): string {
  if (code === 400) return 'BadRequest';
  if (code === 403) return 'Forbidden';
  return 'InternalError';
}

/**
 * Make warnings safe to return: control characters become spaces, each is cut to {@link MAX_WARNING_LENGTH}
 * characters, duplicates and empty ones are dropped, and at most {@link MAX_WARNINGS} are kept (the last slot then
 * says how many were left out).
 */
export function sanitizeWarnings(warnings: readonly string[]): string[] {
  const out: string[] = [];
  for (const w of warnings) {
    // eslint-disable-next-line no-control-regex
    let text = w.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
    if (text === '') continue;
    if (text.length > MAX_WARNING_LENGTH) text = `${text.slice(0, MAX_WARNING_LENGTH - 3)}...`;
    if (!out.includes(text)) out.push(text);
  }
  if (out.length > MAX_WARNINGS) {
    const extra = out.length - (MAX_WARNINGS - 1);
    return [...out.slice(0, MAX_WARNINGS - 1), `${extra} more warnings not shown`];
  }
  return out;
}

/**
 * Build the AdmissionReview answer for `request`, in the same apiVersion it came in.
 *
 * Allowed with a non-empty patch → `patchType: JSONPatch` and the base64 patch. Denied → `status {code, message,
 * reason}`. Warnings are passed through {@link sanitizeWarnings}.
 *
 * @example
 * ```ts
 * buildAdmissionResponse('admission.k8s.io/v1', request.uid, { allowed: false, code: 400, message: 'bad annotation' })
 * ```
 */
export function buildAdmissionResponse(apiVersion: AdmissionApiVersion, uid: string, decision: AdmissionDecision): AdmissionReview {
  return admissionAnswer(apiVersion, uid, decision).review;
}

/** A built answer: the object ({@link buildAdmissionResponse}) and its JSON text, as the webhook sends it. */
export interface AdmissionAnswer {
  review: AdmissionReview;
  /** `JSON.stringify(review)`, byte for byte. */
  json: string;
}

/**
 * {@link buildAdmissionResponse} and the answer's JSON text together. The text is `JSON.stringify` of the review,
 * byte for byte, written without serialising the base64 patch a second time: the patch is most of the answer, and
 * base64 needs no JSON escaping, so it is put between quotes as it is instead of being scanned and copied again.
 *
 * @example
 * ```ts
 * const { json } = admissionAnswer('admission.k8s.io/v1', request.uid, { allowed: true, patch });
 * ```
 */
export function admissionAnswer(apiVersion: AdmissionApiVersion, uid: string, decision: AdmissionDecision): AdmissionAnswer {
  const status: AdmissionStatus & { code: number } = decision.allowed
    ? decision.message === undefined
      ? { code: 200 }
      : { code: 200, message: decision.message }
    : { code: decision.code, message: decision.message, reason: decision.reason ?? defaultReason(decision.code) };
  const response: AdmissionResponse = { uid, allowed: decision.allowed, status };
  let patch: string | undefined;
  if (decision.allowed && decision.patch !== undefined && decision.patch.length > 0) {
    const text = decision.patchJson ?? JSON.stringify(decision.patch);
    // ASCII text (UTF-8 as long as the string) is base64-encoded as it is, without a Buffer copy in between;
    // btoa would encode other text as Latin-1, so it goes through UTF-8.
    patch = Buffer.byteLength(text, 'utf8') === text.length ? btoa(text) : Buffer.from(text, 'utf8').toString('base64');
    response.patchType = 'JSONPatch';
    response.patch = patch;
  }
  const warnings = sanitizeWarnings(decision.warnings ?? []);
  if (warnings.length > 0) response.warnings = warnings;
  const review: AdmissionReview = { apiVersion, kind: 'AdmissionReview', response };
  // Keys in the order of the object above, so the text is what JSON.stringify(review) gives.
  let statusJson = `{"code":${jsonNumber(status.code)}`;
  if (status.message !== undefined) statusJson += `,"message":${jsonString(status.message)}`;
  if (status.reason !== undefined) statusJson += `,"reason":${jsonString(status.reason)}`;
  let json = `{"apiVersion":${jsonString(apiVersion)},"kind":"AdmissionReview","response":{"uid":${jsonString(uid)},"allowed":${decision.allowed},"status":${statusJson}}`;
  if (patch !== undefined) json += `,"patchType":"JSONPatch","patch":"${patch}"`;
  if (warnings.length > 0) json += `,"warnings":${jsonStringList(warnings)}`;
  json += '}}';
  return { review, json };
}

/**
 * The body of a plain HTTP error (400, 404, 413, …): a `metav1.Status`, so `kubectl` and the API server log it
 * readably.
 */
export function httpErrorStatus(code: number, message: string): Record<string, unknown> {
  const reasons: Record<number, string> = { 400: 'BadRequest', 404: 'NotFound', 405: 'MethodNotAllowed', 408: 'Timeout', 413: 'RequestEntityTooLarge', 415: 'UnsupportedMediaType', 429: 'TooManyRequests', 503: 'ServiceUnavailable' };
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: reasons[code] ?? 'InternalError', code };
}
