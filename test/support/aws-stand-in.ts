/**
 * A small local stand-in for the AWS Secrets Manager JSON API (`GetSecretValue` only), enough for the official
 * `@aws-sdk/client-secrets-manager` pointed at it with an `endpoint` override. Plain HTTP on 127.0.0.1.
 *
 * @module
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A stored secret: text, bytes, or (to test odd answers) neither. */
export interface AwsStoredSecret {
  SecretString?: string;
  SecretBinary?: Uint8Array;
}

/** One request as the stand-in saw it. */
export interface AwsSeenRequest {
  target: string;
  body: Record<string, unknown>;
  authorization: string | undefined;
}

/** Faults applied to the next requests. */
export interface AwsFaults {
  /** Answer the next N requests with this error type (`ThrottlingException`, `InternalServiceError`, …). */
  failNext?: number;
  failType?: string;
  failStatus?: number;
  /** Delay every answer by this many ms. */
  latencyMs?: number;
  /** While set, every answer waits until this promise settles (a backend that has not answered yet). */
  hold?: Promise<unknown>;
}

export interface AwsStandIn {
  url: string;
  secrets: Map<string, AwsStoredSecret>;
  requests: AwsSeenRequest[];
  faults: AwsFaults;
  close(): Promise<void>;
}

function reply(res: ServerResponse, status: number, body: unknown, errorType?: string): void {
  res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', ...(errorType ? { 'x-amzn-errortype': errorType } : {}) });
  res.end(JSON.stringify(body));
}

/** Start the stand-in on an ephemeral port. */
export async function startAwsStandIn(): Promise<AwsStandIn> {
  const secrets = new Map<string, AwsStoredSecret>();
  const requests: AwsSeenRequest[] = [];
  const faults: AwsFaults = {};
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const target = String(req.headers['x-amz-target'] ?? '');
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
    } catch {
      reply(res, 400, { __type: 'SerializationException', message: 'bad json' }, 'SerializationException');
      return;
    }
    requests.push({ target, body, authorization: req.headers.authorization });
    if (faults.latencyMs) await new Promise((r) => setTimeout(r, faults.latencyMs));
    if (faults.hold) await faults.hold;
    if ((faults.failNext ?? 0) > 0) {
      faults.failNext = (faults.failNext ?? 0) - 1;
      const type = faults.failType ?? 'InternalServiceError';
      reply(res, faults.failStatus ?? (type === 'ThrottlingException' ? 400 : 500), { __type: type, message: `injected ${type}` }, type);
      return;
    }
    if (target !== 'secretsmanager.GetSecretValue') {
      reply(res, 400, { __type: 'UnknownOperationException', message: target }, 'UnknownOperationException');
      return;
    }
    const id = typeof body.SecretId === 'string' ? body.SecretId : '';
    const s = secrets.get(id);
    if (s === undefined) {
      reply(res, 400, { __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." }, 'ResourceNotFoundException');
      return;
    }
    reply(res, 200, {
      ARN: `arn:aws:secretsmanager:us-east-1:000000000000:secret:${id}`,
      Name: id,
      VersionId: '00000000-0000-0000-0000-000000000001',
      VersionStages: ['AWSCURRENT'],
      CreatedDate: 1700000000,
      ...(s.SecretString !== undefined ? { SecretString: s.SecretString } : {}),
      ...(s.SecretBinary !== undefined ? { SecretBinary: Buffer.from(s.SecretBinary).toString('base64') } : {}),
    });
  };
  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    secrets,
    requests,
    faults,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
