import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isFlyteSecretsError } from '../errors.js';
import { AdmissionReviewError, MAX_WARNINGS, MAX_WARNING_LENGTH, admissionAnswer, buildAdmissionResponse, httpErrorStatus, parseAdmissionReview, sanitizeWarnings } from './review.js';

const request = {
  uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
  kind: { group: '', version: 'v1', kind: 'Pod' },
  resource: { group: '', version: 'v1', resource: 'pods' },
  namespace: 'flytesnacks-development',
  operation: 'CREATE',
  object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [] } },
};

const body = (doc: unknown): Buffer => Buffer.from(typeof doc === 'string' ? doc : JSON.stringify(doc));

describe('parseAdmissionReview', () => {
  it.each(['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'] as const)('accepts %s and keeps the request', (apiVersion) => {
    const parsed = parseAdmissionReview(body({ apiVersion, kind: 'AdmissionReview', request: { ...request, dryRun: true } }));
    expect(parsed.apiVersion).toBe(apiVersion);
    expect(parsed.request.uid).toBe(request.uid);
    expect(parsed.request.kind).toEqual(request.kind);
    expect(parsed.request.namespace).toBe('flytesnacks-development');
    expect(parsed.request.dryRun).toBe(true);
    expect(parsed.request.object).toEqual(request.object);
  });

  it('fills an absent kind/resource/operation with empty strings (so the handler treats the request as "not a pod")', () => {
    const parsed = parseAdmissionReview(body({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u' } }));
    expect(parsed.request.kind).toEqual({ group: '', version: '', kind: '' });
    expect(parsed.request.resource).toEqual({ group: '', version: '', resource: '' });
    expect(parsed.request.operation).toBe('');
    expect(parsed.request.dryRun).toBeUndefined();
  });

  it.each([
    ['not JSON', '{"apiVersion":', /not valid JSON/],
    ['a JSON array', '[1,2]', /not an AdmissionReview: expected a JSON object/],
    ['another kind', { apiVersion: 'admission.k8s.io/v1', kind: 'TokenReview', request }, /expected kind AdmissionReview .* got kind "TokenReview"/],
    ['an unknown apiVersion', { apiVersion: 'admission.k8s.io/v2', kind: 'AdmissionReview', request }, /apiVersion "admission.k8s.io\/v2"/],
    ['no request', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }, /request is missing/],
    ['a request that is not an object', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: 'x' }, /request is missing/],
    ['no uid', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { ...request, uid: undefined } }, /request.uid is missing/],
    ['an empty uid', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { ...request, uid: '' } }, /request.uid is missing/],
    ['a numeric uid', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { ...request, uid: 7 } }, /request.uid is missing/],
    ['a string dryRun', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { ...request, dryRun: 'yes' } }, /dryRun must be a boolean/],
    ['a kind that is not an object', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { ...request, kind: 'Pod' } }, /request.kind must be an object/],
    ['a numeric namespace', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { ...request, namespace: 3 } }, /request.namespace must be a string/],
  ])('refuses %s with a typed 400 error', (_name, doc, message) => {
    let caught: unknown;
    try {
      parseAdmissionReview(body(doc));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(AdmissionReviewError);
    expect(isFlyteSecretsError(caught, 'InvalidInput')).toBe(true);
    expect((caught as AdmissionReviewError).status).toBe(400);
    expect((caught as Error).message).toMatch(message);
  });
});

describe('buildAdmissionResponse', () => {
  it('answers a patch as base64 JSONPatch in the request’s apiVersion', () => {
    const patch = [{ op: 'add', path: '/metadata/labels', value: { a: 'b' } }];
    const review = buildAdmissionResponse('admission.k8s.io/v1beta1', 'uid-1', { allowed: true, patch });
    expect(review.apiVersion).toBe('admission.k8s.io/v1beta1');
    expect(review.kind).toBe('AdmissionReview');
    expect(review.response?.uid).toBe('uid-1');
    expect(review.response?.allowed).toBe(true);
    expect(review.response?.patchType).toBe('JSONPatch');
    expect(JSON.parse(Buffer.from(review.response?.patch ?? '', 'base64').toString('utf8'))).toEqual(patch);
    expect(review.response?.warnings).toBeUndefined();
  });

  it('encodes the patch as base64 of its UTF-8 JSON, for ASCII and for any other text (Latin-1, CJK, emoji, controls)', () => {
    const value = fc.oneof(fc.string({ unit: 'binary-ascii' }), fc.string({ unit: 'binary' }).filter((v) => !/[\ud800-\udfff]/u.test(v)), fc.constantFrom('é', 'ÿ', '\u0080', '日本', '🔑'));
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 4 }), (values) => {
        const patch = values.map((v, i) => ({ op: 'add', path: `/metadata/annotations/k${i}`, value: v }));
        const { review } = admissionAnswer('admission.k8s.io/v1', 'u', { allowed: true, patch });
        const encoded = review.response?.patch ?? '';
        expect(encoded).toBe(Buffer.from(JSON.stringify(patch), 'utf8').toString('base64'));
        expect(JSON.parse(Buffer.from(encoded, 'base64').toString('utf8'))).toEqual(patch);
      }),
      { numRuns: 300 },
    );
  });

  it('omits patch and patchType when the patch is empty, and carries the message', () => {
    const review = buildAdmissionResponse('admission.k8s.io/v1', 'u', { allowed: true, patch: [], message: 'No changes' });
    expect(review.response).toEqual({ uid: 'u', allowed: true, status: { code: 200, message: 'No changes' } });
  });

  it('answers a denial with status code, message and reason (Flyte uses 400)', () => {
    const review = buildAdmissionResponse('admission.k8s.io/v1', 'u', { allowed: false, code: 400, message: 'bad annotation', warnings: ['w'] });
    expect(review.response).toEqual({ uid: 'u', allowed: false, status: { code: 400, message: 'bad annotation', reason: 'BadRequest' }, warnings: ['w'] });
    expect(buildAdmissionResponse('admission.k8s.io/v1', 'u', { allowed: false, code: 500, message: 'x' }).response?.status?.reason).toBe('InternalError');
    expect(buildAdmissionResponse('admission.k8s.io/v1', 'u', { allowed: false, code: 400, message: 'x', reason: 'Invalid' }).response?.status?.reason).toBe('Invalid');
  });
});

describe('admissionAnswer', () => {
  it('gives the text JSON.stringify gives for the review, byte for byte, whatever the decision', () => {
    const text = fc.oneof(fc.stringMatching(/^[a-z0-9 .-]{0,40}$/), fc.string({ unit: 'binary' }));
    const json: fc.Arbitrary<unknown> = fc.jsonValue();
    const decision = fc.oneof(
      fc.record(
        { allowed: fc.constant(true as const), patch: fc.array(fc.record({ op: fc.constantFrom('add', 'replace', 'remove'), path: text, value: json }), { maxLength: 4 }), message: text, warnings: fc.array(text, { maxLength: 12 }) },
        { requiredKeys: ['allowed'] },
      ),
      fc.record({ allowed: fc.constant(false as const), code: fc.integer({ min: 100, max: 599 }), message: text, reason: text, warnings: fc.array(text, { maxLength: 3 }) }, { requiredKeys: ['allowed', 'code', 'message'] }),
    );
    fc.assert(
      fc.property(fc.constantFrom('admission.k8s.io/v1' as const, 'admission.k8s.io/v1beta1' as const), text, decision, (apiVersion, uid, d) => {
        const { review, json: out } = admissionAnswer(apiVersion, uid, d);
        expect(out).toBe(JSON.stringify(review));
        expect(review).toEqual(buildAdmissionResponse(apiVersion, uid, d));
      }),
      { numRuns: 500 },
    );
  });
});

describe('sanitizeWarnings', () => {
  it('removes control characters, empty and duplicate warnings', () => {
    expect(sanitizeWarnings(['a\nb', 'a b', '  ', 'c\u0007'])).toEqual(['a b', 'c']);
  });

  it(`cuts warnings to ${MAX_WARNING_LENGTH} characters`, () => {
    const [w] = sanitizeWarnings(['x'.repeat(1000)]);
    expect(w).toHaveLength(MAX_WARNING_LENGTH);
    expect(w?.endsWith('...')).toBe(true);
  });

  it(`keeps at most ${MAX_WARNINGS}, the last saying how many were left out`, () => {
    const out = sanitizeWarnings(Array.from({ length: 25 }, (_, i) => `w${i}`));
    expect(out).toHaveLength(MAX_WARNINGS);
    expect(out[MAX_WARNINGS - 2]).toBe(`w${MAX_WARNINGS - 2}`);
    expect(out[MAX_WARNINGS - 1]).toBe(`${25 - (MAX_WARNINGS - 1)} more warnings not shown`);
  });
});

describe('httpErrorStatus', () => {
  it('is a metav1.Status with the reason matching the code', () => {
    expect(httpErrorStatus(413, 'too big')).toEqual({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'too big', reason: 'RequestEntityTooLarge', code: 413 });
  });
});
