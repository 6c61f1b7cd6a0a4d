import { PassThroughClient } from 'google-auth-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGcpStandIn, type GcpStandIn } from '../../test/support/gcp-stand-in.js';
import type { FlyteSecretId } from '../secret/flyte-id.js';
import type { SecretFetcher } from './fetcher.js';
import { createGcpFetcher } from './gcp.js';
import { abortWhileHeld } from '../../test/support/held-request.js';

const orgScoped: FlyteSecretId = { org: 'organization', domain: '', project: '', name: 'secretID' };
const NAME = 'projects/project/secrets/u__org__organization__domain____project____key__secretID';

let gcp: GcpStandIn;
let fetcher: SecretFetcher;

beforeAll(async () => {
  gcp = await startGcpStandIn();
  fetcher = createGcpFetcher({ project: 'project', apiEndpoint: '127.0.0.1', port: gcp.port, protocol: 'http', authClient: new PassThroughClient() });
});
afterAll(async () => {
  await gcp.close();
});

describe('GCP Secret Manager fetcher (Flyte: `secret/gcp_secret_fetcher.go`) against a local REST stand-in', () => {
  it('reads projects/<p>/secrets/<Flyte id>/versions/latest and returns the payload as bytes', async () => {
    gcp.secrets.set(NAME, new TextEncoder().encode('secretValue'));
    gcp.requests.length = 0;
    const v = await fetcher.fetch(orgScoped);
    expect(v.kind).toBe('binary');
    expect(v.text()).toBe('secretValue');
    expect(gcp.requests).toEqual([{ method: 'GET', path: `/v1/${NAME}/versions/latest:access` }]);
  });

  it('accepts empty data; no payload → SecretNil', async () => {
    gcp.secrets.set(NAME, new Uint8Array());
    expect((await fetcher.fetch(orgScoped)).bytes()).toHaveLength(0);
    gcp.secrets.set(NAME, null);
    await expect(fetcher.fetch(orgScoped)).rejects.toMatchObject({ code: 'SecretNil' });
  });

  it('NotFound → SecretNotFound with Flyte’s text', async () => {
    const err = await fetcher.fetch({ ...orgScoped, name: 'missing' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SecretNotFound', status: 404 });
    expect((err as Error).message).toMatch(/^\[SecretNotFound\] secret u__org__organization__domain____project____key__missing not found in the secret manager, caused by: /);
  });

  it('429 → throttled read failure with Retry-After; 503 → retryable; 403 → not retryable; one request each', async () => {
    gcp.secrets.set(NAME, new TextEncoder().encode('x'));
    gcp.requests.length = 0;
    gcp.faults.failNext = 1;
    gcp.faults.failStatus = 429;
    await expect(fetcher.fetch(orgScoped)).rejects.toMatchObject({ code: 'SecretReadFailure', throttled: true, retryable: true, retryAfterMs: 1000 });
    gcp.faults.failNext = 1;
    gcp.faults.failStatus = 503;
    await expect(fetcher.fetch(orgScoped)).rejects.toMatchObject({ code: 'SecretReadFailure', retryable: true, status: 503 });
    gcp.faults.failNext = 1;
    gcp.faults.failStatus = 403;
    await expect(fetcher.fetch(orgScoped)).rejects.toMatchObject({ code: 'SecretReadFailure', retryable: false, status: 403 });
    expect(gcp.requests).toHaveLength(3);
  });

  it('honours the AbortSignal (a backend that has not answered)', async () => {
    const outcome = await abortWhileHeld(gcp, (signal) => fetcher.fetch(orgScoped, signal));
    expect(outcome).toMatchObject({ code: 'SecretReadFailure', retryable: true });
  });
});
