import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAwsStandIn, type AwsStandIn } from '../../test/support/aws-stand-in.js';
import type { FlyteSecretId } from '../secret/flyte-id.js';
import { createAwsFetcher } from './aws.js';
import { createRequestBudget, budgetedFetcher } from './budget.js';
import type { SecretFetcher } from './fetcher.js';
import { abortWhileHeld } from '../../test/support/held-request.js';

const orgScoped: FlyteSecretId = { org: 'flyte', domain: '', project: '', name: 'secretID' };
const ORG_ID = 'u__org__flyte__domain____project____key__secretID';

let aws: AwsStandIn;
let fetcher: SecretFetcher;

beforeAll(async () => {
  aws = await startAwsStandIn();
  fetcher = createAwsFetcher({ region: 'us-east-1', endpoint: aws.url, credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' } });
});
afterAll(async () => {
  await aws.close();
});

describe('AWS Secrets Manager fetcher (Flyte: `secret/aws_secret_fetcher.go`) against a local stand-in', () => {
  it('calls GetSecretValue with SecretId = the Flyte id and VersionStage AWSCURRENT, and returns SecretString as text', async () => {
    aws.secrets.set(ORG_ID, { SecretString: 'fruits' });
    aws.requests.length = 0;
    const v = await fetcher.fetch(orgScoped);
    expect(v.kind).toBe('string');
    expect(v.text()).toBe('fruits');
    expect(aws.requests).toHaveLength(1);
    expect(aws.requests[0]).toMatchObject({ target: 'secretsmanager.GetSecretValue', body: { SecretId: ORG_ID, VersionStage: 'AWSCURRENT' } });
    expect(aws.requests[0]!.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDTEST\//);
  });

  it('returns SecretBinary as bytes', async () => {
    aws.secrets.set(ORG_ID, { SecretBinary: Uint8Array.from([0, 1, 2, 255]) });
    const v = await fetcher.fetch(orgScoped);
    expect(v.kind).toBe('binary');
    expect([...v.bytes()]).toEqual([0, 1, 2, 255]);
  });

  it('an empty SecretString with a binary returns the binary (Flyte would drop it)', async () => {
    aws.secrets.set(ORG_ID, { SecretString: '', SecretBinary: Uint8Array.from([7]) });
    expect([...(await fetcher.fetch(orgScoped)).bytes()]).toEqual([7]);
  });

  it('neither string nor binary → SecretNil', async () => {
    aws.secrets.set(ORG_ID, {});
    await expect(fetcher.fetch(orgScoped)).rejects.toMatchObject({
      code: 'SecretNil',
      message: `[SecretNil] secret ${ORG_ID} read as empty from the secret manager, caused by: <nil>`,
    });
  });

  it('ResourceNotFoundException → SecretNotFound with Flyte’s text', async () => {
    const missing: FlyteSecretId = { ...orgScoped, name: 'missing' };
    const err = await fetcher.fetch(missing).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SecretNotFound', retryable: false });
    expect((err as Error).message).toMatch(/^\[SecretNotFound\] secret u__org__flyte__domain____project____key__missing not found in the secret manager, caused by: ResourceNotFoundException: /);
  });

  it('other errors → SecretReadFailure; throttling and 5xx are retryable; one HTTP request per call (SDK retries off)', async () => {
    aws.secrets.set(ORG_ID, { SecretString: 'fruits' });
    aws.requests.length = 0;
    aws.faults.failNext = 1;
    aws.faults.failType = 'ThrottlingException';
    const throttled = await fetcher.fetch(orgScoped).catch((e: unknown) => e);
    expect(throttled).toMatchObject({ code: 'SecretReadFailure', throttled: true, retryable: true });
    expect((throttled as Error).message).toMatch(/^\[SecretReadFailure\] secret u__org__flyte__domain____project____key__secretID failed to be read from secret manager, caused by: ThrottlingException/);
    aws.faults.failNext = 1;
    aws.faults.failType = 'InternalServiceError';
    await expect(fetcher.fetch(orgScoped)).rejects.toMatchObject({ code: 'SecretReadFailure', retryable: true });
    aws.faults.failNext = 1;
    aws.faults.failType = 'AccessDeniedException';
    aws.faults.failStatus = 400;
    await expect(fetcher.fetch(orgScoped)).rejects.toMatchObject({ code: 'SecretReadFailure', retryable: false });
    delete aws.faults.failStatus;
    expect(aws.requests).toHaveLength(3);
  });

  it('through the budget, a throttled call is retried and succeeds', async () => {
    aws.faults.failNext = 2;
    aws.faults.failType = 'ThrottlingException';
    const f = budgetedFetcher(fetcher, createRequestBudget({ requestsPer10s: 4000, callTimeoutMs: 2000, maxAttempts: 4, baseBackoffMs: 5, maxBackoffMs: 20 }));
    expect((await f.fetch(orgScoped)).text()).toBe('fruits');
  });

  it('honours the AbortSignal (a backend that has not answered)', async () => {
    const outcome = await abortWhileHeld(aws, (signal) => fetcher.fetch(orgScoped, signal));
    expect(outcome).toMatchObject({ code: 'SecretReadFailure', retryable: true });
  });
});
