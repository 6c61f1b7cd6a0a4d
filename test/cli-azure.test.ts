// End-to-end tests of `flyte-secrets azure …`: the real binary (`node bin/flyte-secrets.js`, built with
// `npx tsc -p tsconfig.build.json`) in a child process, with real stdin/stdout/stderr and exit codes.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { register } from '../src/cli/commands/azure.js';
import { keyVaultNameForId } from '../src/azure/secret-name.js';
import { runBinary } from './support/cli.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const names = JSON.parse(readFileSync(join(root, 'test/vectors/azure-names.json'), 'utf8')) as {
  bijective: { flyteId: string; keyVaultName: string }[];
};
const envelopes = JSON.parse(readFileSync(join(root, 'test/vectors/azure-envelopes.json'), 'utf8')) as {
  encode: { kind: string; value?: string; valueBase64?: string; envelope: string }[];
};

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Run the real binary; resolves when it exits (killed after 15 s). */
function run(args: string[], input?: Buffer | string): Promise<Run> {
  return runBinary(args, { input });
}

function expectCleanFailure(r: Run, code: number, message: string | RegExp): void {
  expect(r.code).toBe(code);
  expect(r.stdout.length).toBe(0);
  if (typeof message === 'string') expect(r.stderr).toContain(message);
  else expect(r.stderr).toMatch(message);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  expect(r.stderr).not.toMatch(/internal error/);
}

/** Split a Flyte id into the components the CLI takes. */
function parts(flyteId: string): { org: string; domain: string; project: string; name: string } {
  const m = /^u__org__(.*?)__domain__(.*?)__project__(.*?)__key__(.*)$/s.exec(flyteId);
  if (m === null) throw new Error(`bad vector ${flyteId}`);
  return { org: m[1]!, domain: m[2]!, project: m[3]!, name: m[4]! };
}

let scratch = '';
beforeAll(() => {
  if (!existsSync(join(root, 'dist/cli/commands/azure.js'))) {
    throw new Error('dist/ is not built: run `npx tsc -p tsconfig.build.json` first');
  }
  scratch = mkdtempSync(join(tmpdir(), 'cli-azure-'));
});
afterAll(() => {
  if (scratch !== '') rmSync(scratch, { recursive: true, force: true });
});

describe('flyte-secrets azure encode-name / decode-name', () => {
  it('encodes and decodes Flyte’s vectors', async () => {
    const rows = [names.bijective[1]!];
    const results = await Promise.all(
      rows.flatMap((r) => {
        const p = parts(r.flyteId);
        return [
          run(['azure', 'encode-name', '--org', p.org, '--domain', p.domain, '--project', p.project, '--', p.name]),
          run(['azure', 'decode-name', r.keyVaultName]),
        ];
      }),
    );
    rows.forEach((r, i) => {
      const [enc, dec] = [results[2 * i]!, results[2 * i + 1]!];
      expect(enc.stderr).toBe('');
      expect(enc.code).toBe(0);
      expect(enc.stdout.toString()).toBe(`${r.keyVaultName}\n`);
      expect(dec.code).toBe(0);
      expect(dec.stdout.toString()).toBe(`${JSON.stringify(parts(r.flyteId))}\n`);
    });
  });

  it('--domain/--project left out are empty components, --org defaults to "flyte" as in `secret`; -- allows a name starting with "-"', async () => {
    const [dash, bare, noOrg, secretHelp] = await Promise.all([
      run(['azure', 'encode-name', '--org', 'flyte', '--', '-x']),
      run(['azure', 'encode-name', 'k']),
      run(['azure', 'encode-name', '--org', '', 'k']),
      run(['secret', 'get', '--help']),
    ]);
    expect(dash.code).toBe(0);
    expect(dash.stdout.toString()).toBe('1-flyte---FV4A\n');
    expect(bare.stdout.toString()).toBe(`${keyVaultNameForId({ org: 'flyte', domain: '', project: '', name: 'k' })}\n`);
    expect(bare.stdout.toString()).toBe('1-flyte---NM\n');
    expect(noOrg.stdout.toString()).toBe('1----NM\n');
    expect(secretHelp.stdout.toString().replace(/\s+/g, ' ')).toContain('--org <org> organisation (Flyte OSS always uses "flyte") (default: "flyte")');
  });

  it('errors: refusals name what is wrong, Flyte’s texts are kept, usage errors exit 2', async () => {
    const [chars, long, escape, missing] = await Promise.all([
      run(['azure', 'encode-name', '--org', 'flyte', '--domain', 'development', '--project', 'p_1', 'k']),
      run(['azure', 'encode-name', '--org', 'flyte', '--domain', 'development', '--project', 'flytesnacks', 'x'.repeat(60)]),
      run(['azure', 'decode-name', '1-test02org-testdomain-testproject-ORSXG5DTMVRXEZLU']),
      run(['azure', 'encode-name', '--org', 'flyte']),
    ]);
    expectCleanFailure(
      chars,
      1,
      'error: no Azure Key Vault name for this secret: the project "p_1" contains "_", which Key Vault names cannot hold (allowed: 0-9 a-z A-Z -)\n',
    );
    expectCleanFailure(long, 1, 'error: encoded secret name with length 128 exceeds maximum length: 127\n');
    expectCleanFailure(
      escape,
      1,
      'error: error decoding org from stored secret 1-test02org-testdomain-testproject-ORSXG5DTMVRXEZLU: unexpected escape sequence: 02\n',
    );
    expectCleanFailure(missing, 2, "missing required argument 'name'");
  });
});

describe('flyte-secrets azure encode-value / decode-value', () => {
  it('writes Flyte’s envelope bytes (no newline when piped) and decodes them back', async () => {
    const picked = envelopes.encode.filter((v) => v.value === '<a&b>' || v.valueBase64 === 'AAEC/w==');
    expect(picked).toHaveLength(2);
    const encoded = await Promise.all(
      picked.map((v) => {
        if (v.kind === 'string') return run(['azure', 'encode-value', '--string', v.value!]);
        const file = join(scratch, 'vector.bin');
        writeFileSync(file, Buffer.from(v.valueBase64!, 'base64'));
        return run(['azure', 'encode-value', '--binary-file', file]);
      }),
    );
    const decoded = await Promise.all(encoded.map((e) => run(['azure', 'decode-value'], e.stdout)));
    picked.forEach((v, i) => {
      const enc = encoded[i]!;
      expect(enc.stderr).toBe('');
      expect(enc.code).toBe(0);
      expect(enc.stdout.toString('utf8')).toBe(v.envelope);
      const want = v.kind === 'string' ? Buffer.from(v.value!, 'utf8') : Buffer.from(v.valueBase64!, 'base64');
      expect(decoded[i]!.code).toBe(0);
      expect(decoded[i]!.stdout.equals(want)).toBe(true);
    });
  });

  it('is binary-safe through stdin and stdout', async () => {
    const bytes = Buffer.from(Array.from({ length: 256 }, (_x, i) => i));
    const enc = await run(['azure', 'encode-value', '--binary-file', '-'], bytes);
    expect(enc.code).toBe(0);
    expect(enc.stdout.toString()).toBe(`{"type":"BINARY","value":"${bytes.toString('base64')}"}`);
    const dec = await run(['azure', 'decode-value'], Buffer.concat([enc.stdout, Buffer.from('\n')]));
    expect(dec.code).toBe(0);
    expect(dec.stdout.equals(bytes)).toBe(true);
  });

  it('errors: exactly one source (exit 2), missing file, 25 KiB limit, the envelope errors, no value echoed', async () => {
    const big = join(scratch, 'big.bin');
    writeFileSync(big, Buffer.alloc(19_180));
    const [none, both, missing, tooBig, plain, badType, badBase64, plainOk] = await Promise.all([
      run(['azure', 'encode-value']),
      run(['azure', 'encode-value', '--string', 'a', '--binary-file', 'x']),
      run(['azure', 'encode-value', '--binary-file', join(scratch, 'nope')]),
      run(['azure', 'encode-value', '--binary-file', big]),
      run(['azure', 'decode-value'], 's3cr3t-hunter2\n'),
      run(['azure', 'decode-value'], '{"type":0,"value":"s3cr3t"}'),
      run(['azure', 'decode-value'], '{"type":"BINARY","value":"s3cr3t-"}'),
      run(['azure', 'decode-value', '--plain'], 's3cr3t-hunter2'),
    ]);
    const usage = 'error: encode-value needs exactly one of --string <text> or --binary-file <file>';
    expectCleanFailure(none, 2, usage);
    expectCleanFailure(both, 2, usage);
    expectCleanFailure(missing, 1, /error: cannot read .*nope: no such file/);
    expectCleanFailure(tooBig, 1, /at most 25600 bytes/);
    expectCleanFailure(plain, 1, 'error: the Key Vault value is not a Flyte envelope: invalid JSON at offset 0: expected a JSON value\n');
    expectCleanFailure(badType, 1, 'error: azureSecretValueType should be a string, got a JSON number\n');
    expectCleanFailure(badBase64, 1, 'error: illegal base64 data at input byte 6\n');
    for (const r of [plain, badType, badBase64]) expect(r.stderr).not.toContain('s3cr3t');
    // --plain passes a non-envelope through unchanged
    expect(plainOk.code).toBe(0);
    expect(plainOk.stdout.toString()).toBe('s3cr3t-hunter2');
  });
});

describe('help', () => {
  /** The help text of `azure <sub…> --help`, from the command table itself (no process needed). */
  async function help(args: string[]): Promise<string> {
    const program = new Command('flyte-secrets').exitOverride();
    register(program);
    let text = '';
    const capture = (cmd: Command): void => {
      cmd.exitOverride().configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s) });
      cmd.commands.forEach(capture);
    };
    capture(program);
    await expect(program.parseAsync(['node', 'flyte-secrets', ...args, '--help'])).rejects.toBeInstanceOf(CommanderError);
    return text;
  }

  it.each([['azure'], ['azure', 'encode-name'], ['azure', 'decode-name'], ['azure', 'encode-value'], ['azure', 'decode-value']])(
    '%s … --help shows an example',
    async (...args) => {
      const text = await help(args.filter((a): a is string => typeof a === 'string'));
      expect(text).toMatch(/Examples?( \(.*\))?:\n/);
      expect(text).toMatch(/\n {2}\$ /);
      expect(text).toContain('flyte-secrets azure ');
    },
  );

  it('the real binary prints the same help and exits 0', async () => {
    const r = await run(['azure', 'encode-value', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe(await help(['azure', 'encode-value']));
  });
});
