import { describe, expect, it } from 'vitest';
import { backoffMs, judgeFailure } from './failure.js';

const ctx = { host: 'v.vault.azure.net', name: 'db', version: '', clientId: 'cid' };

/** Error objects shaped as the Azure SDK and Node throw them (only the fields read). */
function restError(statusCode: number, code: string, inner?: string, headers: Record<string, string> = {}): Error {
  return Object.assign(new Error('ignored text'), {
    name: 'RestError',
    statusCode,
    code,
    details: { error: { code, message: 'x', ...(inner === undefined ? {} : { innerError: { code: inner } }) } },
    response: { headers: { get: (n: string) => headers[n] } },
  });
}

describe('judgeFailure', () => {
  it.each([
    [restError(404, 'SecretNotFound'), false, /404 SecretNotFound: vault v\.vault\.azure\.net has no secret "db"/],
    [restError(403, 'Forbidden', 'ForbiddenByRbac'), false, /client id cid\) may not read secrets .* "Key Vault Secrets User"/],
    [restError(403, 'Forbidden', 'SecretDisabled'), false, /is disabled/],
    [restError(401, 'Unauthorized'), false, /refused the token/],
    [restError(500, 'InternalServerError'), true, /answered 500/],
    [restError(503, 'ServiceUnavailable'), true, /answered 503/],
    [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:443'), { code: 'ECONNREFUSED' }), true, /could not reach v\.vault\.azure\.net .*ECONNREFUSED/],
    [Object.assign(new Error('aborted'), { name: 'AbortError' }), true, /timed out/],
    [Object.assign(new Error('AADSTS700211: No matching federated identity record found'), { name: 'AuthenticationError', statusCode: 401 }), false, /could not get a token .*\(AADSTS700211\).*azure\.workload\.identity\/client-id/],
  ])('%#', (err, retry, text) => {
    const j = judgeFailure(err, ctx);
    expect(j.retry).toBe(retry);
    expect(j.text).toMatch(text);
    expect(j.text).not.toContain('ignored text');
  });

  it('429 is retried and keeps the server’s Retry-After', () => {
    expect(judgeFailure(restError(429, 'Throttled', undefined, { 'retry-after': '3' }), ctx)).toMatchObject({ retry: true, retryAfterSeconds: 3 });
  });
});

describe('backoffMs', () => {
  it('grows exponentially to 4 s with jitter, honours Retry-After, never passes the deadline', () => {
    expect(backoffMs(1, 60_000, undefined, () => 1)).toBe(250);
    expect(backoffMs(1, 60_000, undefined, () => 0)).toBe(125);
    expect(backoffMs(10, 60_000, undefined, () => 1)).toBe(4000);
    expect(backoffMs(1, 60_000, 2, () => 1)).toBe(2000);
    expect(backoffMs(5, 300, undefined, () => 1)).toBe(300);
  });
});
