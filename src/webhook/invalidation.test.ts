import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../config/load.js';
import type { InjectOutcome, SecretInjector } from '../inject/injector.js';
import type { FlyteSecretId } from '../secret/flyte-id.js';
import { InvalidationBodyError, MAX_INVALIDATION_BODY_BYTES, bearerMatches, decodeInvalidationRequest, startInvalidationServer, type InvalidationServer } from './invalidation.js';

function recordingInjector(type: 'Embedded' | 'Global', seen: FlyteSecretId[], withInvalidate = true): SecretInjector {
  const injector: SecretInjector = {
    type,
    inject: (): Promise<InjectOutcome> => Promise.resolve({ injected: false, reason: 'not used', code: 'InjectionRefused' }),
  };
  if (withInvalidate) injector.invalidate = (id) => void seen.push(id);
  return injector;
}

interface Answer {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

function call(port: number, method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { 'content-type': 'application/json', ...headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('decodeInvalidationRequest (Go encoding/json semantics)', () => {
  it('matches keys case-insensitively and ignores unknown keys', () => {
    expect(decodeInvalidationRequest('{"ORG":"flyte","Domain":"development","project":"flytesnacks","NaMe":"my-secret","extra":1}')).toEqual({ org: 'flyte', domain: 'development', project: 'flytesnacks', name: 'my-secret' });
  });

  it('lets a later key overwrite an earlier one, and null leave a field empty', () => {
    expect(decodeInvalidationRequest('{"name":"a","NAME":"b","org":null}')).toEqual({ org: '', domain: '', project: '', name: 'b' });
    expect(decodeInvalidationRequest('null')).toEqual({ org: '', domain: '', project: '', name: '' });
  });

  it.each([
    ['{not json', /./],
    ['', /^EOF$/],
    ['[1]', /cannot unmarshal array/],
    ['"x"', /cannot unmarshal string/],
    ['{"name":1}', /cannot unmarshal number into Go struct field InvalidateRequest.name of type string/],
  ])('refuses %j', (text, message) => {
    expect(() => decodeInvalidationRequest(text)).toThrow(InvalidationBodyError);
    expect(() => decodeInvalidationRequest(text)).toThrow(message);
  });
});

describe('bearerMatches', () => {
  it.each([
    ['Bearer tok', true],
    ['bearer tok', true],
    ['Bearer  tok ', true],
    ['Bearer tok2', false],
    ['Bearer to', false],
    ['Basic tok', false],
    ['tok', false],
    [undefined, false],
  ])('%j → %s', (header, expected) => {
    expect(bearerMatches(header, 'tok')).toBe(expected);
  });
});

describe('invalidation server (Flyte: `executor/pkg/webhook/cache_invalidation_server.go`)', () => {
  const seen: FlyteSecretId[] = [];
  let server: InvalidationServer;

  beforeAll(async () => {
    const config = parseConfig({ flyteSecrets: { server: { host: '127.0.0.1' } } });
    const started = await startInvalidationServer({ config, injectors: new Map([['Global', recordingInjector('Global', seen, false)], ['Embedded', recordingInjector('Embedded', seen)]]), port: -1 });
    if (started === undefined) throw new Error('server did not start');
    server = started;
  });
  afterAll(() => server.close());

  it('valid POST {org, domain, project, name} → 200, empty body, every injector invalidated', async () => {
    seen.length = 0;
    const a = await call(server.port, 'POST', '/invalidate-secret', '{"org":"flyte","domain":"development","project":"flytesnacks","name":"my-secret"}');
    expect(a.status).toBe(200);
    expect(a.body).toBe('');
    expect(seen).toEqual([{ org: 'flyte', domain: 'development', project: 'flytesnacks', name: 'my-secret' }]);
  });

  it('missing name → 400 «name is required»', async () => {
    seen.length = 0;
    const a = await call(server.port, 'POST', '/invalidate-secret', '{"org":"flyte","domain":"development"}');
    expect(a).toMatchObject({ status: 400, body: 'name is required\n' });
    expect(seen).toEqual([]);
  });

  it('body «{not json» → 400 «invalid request body: …»', async () => {
    const a = await call(server.port, 'POST', '/invalidate-secret', '{not json');
    expect(a.status).toBe(400);
    expect(a.body).toMatch(/^invalid request body: .+\n$/);
    expect(a.headers['content-type']).toBe('text/plain; charset=utf-8');
  });

  it('GET → 405 «method not allowed»', async () => {
    expect(await call(server.port, 'GET', '/invalidate-secret')).toMatchObject({ status: 405, body: 'method not allowed\n' });
  });

  it('another path → 404', async () => {
    expect((await call(server.port, 'POST', '/invalidate', '{"name":"x"}')).status).toBe(404);
  });

  it(`a body over ${MAX_INVALIDATION_BODY_BYTES} bytes → 413`, async () => {
    const a = await call(server.port, 'POST', '/invalidate-secret', Buffer.alloc(MAX_INVALIDATION_BODY_BYTES + 10, 0x20));
    expect(a.status).toBe(413);
  });
});

describe('invalidation server with a token (flyteSecrets.fetch.invalidationToken)', () => {
  const seen: FlyteSecretId[] = [];
  let server: InvalidationServer;

  beforeAll(async () => {
    const config = parseConfig({ flyteSecrets: { server: { host: '127.0.0.1' }, fetch: { invalidationToken: 's3cret-token' } } });
    const started = await startInvalidationServer({ config, injectors: [recordingInjector('Embedded', seen)], port: -1 });
    if (started === undefined) throw new Error('server did not start');
    server = started;
  });
  afterAll(() => server.close());

  it('refuses a request without the bearer token, or with a wrong one, with 401', async () => {
    for (const headers of [{}, { authorization: 'Bearer nope' }, { authorization: 's3cret-token' }]) {
      const a = await call(server.port, 'POST', '/invalidate-secret', '{"name":"x"}', headers);
      expect(a.status).toBe(401);
      expect(a.headers['www-authenticate']).toBe('Bearer');
    }
    expect(seen).toEqual([]);
  });

  it('accepts the right token', async () => {
    const a = await call(server.port, 'POST', '/invalidate-secret', '{"name":"x"}', { authorization: 'Bearer s3cret-token' });
    expect(a.status).toBe(200);
    expect(seen).toEqual([{ org: '', domain: '', project: '', name: 'x' }]);
  });
});

describe('invalidation token from the environment', () => {
  it('requires FLYTE_SECRETS_INVALIDATION_TOKEN when the config sets no token', async () => {
    const seen: FlyteSecretId[] = [];
    const config = parseConfig({ flyteSecrets: { server: { host: '127.0.0.1' } } });
    const server = await startInvalidationServer({ config, injectors: [recordingInjector('Embedded', seen)], port: -1, env: { FLYTE_SECRETS_INVALIDATION_TOKEN: 'from-env' } });
    if (server === undefined) throw new Error('server did not start');
    try {
      expect((await call(server.port, 'POST', '/invalidate-secret', '{"name":"x"}', {})).status).toBe(401);
      expect((await call(server.port, 'POST', '/invalidate-secret', '{"name":"x"}', { authorization: 'Bearer from-env' })).status).toBe(200);
      expect(seen).toEqual([{ org: '', domain: '', project: '', name: 'x' }]);
    } finally {
      await server.close();
    }
  });
});

describe('startInvalidationServer', () => {
  it('is disabled by port 0, as in Flyte', async () => {
    const config = parseConfig({ webhook: { cacheInvalidationPort: 0 } });
    expect(await startInvalidationServer({ config, injectors: [] })).toBeUndefined();
    expect(await startInvalidationServer({ config: parseConfig({}), injectors: [], port: 0 })).toBeUndefined();
  });
});
