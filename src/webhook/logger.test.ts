import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { pino, type DestinationStream } from 'pino';
import { describe, expect, it } from 'vitest';
import { createLogger, isoTimeFormatter, logAdmission, type AdmissionLogFields } from './logger.js';

/** A destination that keeps every line it is given. */
function capture(): { destination: DestinationStream; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { destination: stream, lines };
}

const T = 1_764_750_000_123;

/** No lone surrogates (see the test on them below). */
const wellFormed = (s: string): boolean => !/[\ud800-\udfff]/u.test(s);
// Names and uids as they usually are, and any text (quotes, control characters, non-ASCII).
const text = fc.oneof(fc.stringMatching(/^[a-z0-9.-]{0,40}$/), fc.string({ unit: 'binary', maxLength: 60 }).filter(wellFormed));
const fieldsArb: fc.Arbitrary<AdmissionLogFields> = fc.record(
  {
    uid: text,
    namespace: text,
    pod: text,
    operation: fc.constantFrom('CREATE', 'UPDATE', 'DELETE'),
    dryRun: fc.boolean(),
    secrets: fc.nat(40),
    managers: fc.array(fc.constantFrom('Global', 'K8s', 'AWS', 'GCP', 'Vault', 'Azure', 'Embedded'), { maxLength: 3 }),
    outcome: fc.constantFrom('mutated', 'allowed', 'skipped', 'denied', 'error'),
    durationMs: fc.double({ min: 0, max: 60_000, noNaN: true }),
    reason: text,
    message: fc.string({ unit: 'binary', maxLength: 300 }).filter(wellFormed),
    warnings: fc.nat(20),
  },
  { requiredKeys: ['uid', 'namespace', 'pod', 'operation', 'dryRun', 'secrets', 'managers', 'outcome', 'durationMs'] },
);

describe('logAdmission', () => {
  it('writes, for a logger made by createLogger, the very text pino writes for the same line', () => {
    fc.assert(
      fc.property(fieldsArb, (fields) => {
        const { destination, lines } = capture();
        const logger = createLogger({ destination, now: () => T, level: 'debug' });
        logAdmission(logger, fields);
        // A child logger is not one createLogger made: its line goes through pino's own serialisation.
        logAdmission(logger.child({}), fields);
        expect(lines).toHaveLength(2);
        expect(lines[0]).toBe(lines[1]);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps the allowlisted fields only, in one JSON line', () => {
    const { destination, lines } = capture();
    const logger = createLogger({ destination, now: () => T });
    const fields = { uid: 'u-1', namespace: 'ns', pod: 'p', operation: 'CREATE', dryRun: true, secrets: 2, managers: ['Azure'], outcome: 'mutated', durationMs: 1.23456, value: 'canary-9f2d' };
    logAdmission(logger, fields);
    expect(lines).toHaveLength(1);
    expect(lines[0]?.endsWith('}\n')).toBe(true);
    const line = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
    expect(line).toEqual({
      level: 30,
      time: new Date(T).toISOString(),
      pid: process.pid,
      hostname: expect.any(String),
      name: 'flyte-secrets',
      event: 'admission',
      uid: 'u-1',
      namespace: 'ns',
      pod: 'p',
      operation: 'CREATE',
      dryRun: true,
      secrets: 2,
      managers: ['Azure'],
      outcome: 'mutated',
      durationMs: 1.235,
      msg: 'admission',
    });
    expect(lines[0]).not.toContain('canary-9f2d');
  });

  it('escapes lone surrogates (pino would write them raw), so the line stays valid JSON with the same text', () => {
    const { destination, lines } = capture();
    const logger = createLogger({ destination, now: () => T });
    logAdmission(logger, { uid: 'a\ud800b', namespace: 'ns', pod: '\udfff', operation: 'CREATE', dryRun: false, secrets: 0, managers: [], outcome: 'allowed', durationMs: 0 });
    expect(lines[0]).toContain('"uid":"a\\ud800b"');
    const line = JSON.parse(lines[0] ?? '') as { uid: string; pod: string };
    expect(line.uid).toBe('a\ud800b');
    expect(line.pod).toBe('\udfff');
  });

  it('respects the level: at warn, denials are written and allowed admissions are not', () => {
    const { destination, lines } = capture();
    const logger = createLogger({ destination, now: () => T, level: 'warn' });
    const base = { uid: 'u', namespace: 'ns', pod: 'p', operation: 'CREATE', dryRun: false, secrets: 1, managers: [], durationMs: 1 };
    logAdmission(logger, { ...base, outcome: 'mutated' });
    logAdmission(logger, { ...base, outcome: 'denied', reason: 'InvalidInput', message: 'bad annotation' });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({ level: 40, outcome: 'denied', reason: 'InvalidInput', message: 'bad annotation', msg: 'admission denied' });
  });

  it('hands every line to pino for a destination that routes by level (a multistream)', () => {
    const info = capture();
    const warn = capture();
    const destination = pino.multistream([
      { level: 'info', stream: info.destination },
      { level: 'warn', stream: warn.destination },
    ]);
    const logger = createLogger({ destination, now: () => T });
    const base = { uid: 'u', namespace: 'ns', pod: 'p', operation: 'CREATE', dryRun: false, secrets: 1, managers: [], durationMs: 1 };
    logAdmission(logger, { ...base, outcome: 'mutated' });
    logAdmission(logger, { ...base, outcome: 'error', reason: 'Internal' });
    expect(info.lines.map((l) => (JSON.parse(l) as { outcome: string }).outcome)).toEqual(['mutated', 'error']);
    expect(warn.lines.map((l) => (JSON.parse(l) as { outcome: string }).outcome)).toEqual(['error']);
  });
});

describe('createLogger', () => {
  const module = fileURLToPath(new URL('./logger.ts', import.meta.url));
  /** Run `ending` in a child process after it logs three admission lines to stdout; the uids that reached stdout. */
  function linesBefore(ending: string): { uids: string[]; signal: NodeJS.Signals | null; status: number | null } {
    const code = [
      `const { createLogger, logAdmission } = await import(${JSON.stringify(module)});`,
      `const logger = createLogger();`,
      `for (let i = 0; i < 3; i++) logAdmission(logger, { uid: 'u-' + i, namespace: 'ns', pod: 'p', operation: 'CREATE', dryRun: false, secrets: 1, managers: ['Azure'], outcome: 'mutated', durationMs: 1 });`,
      ending,
    ].join('\n');
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 60_000 });
    const uids = run.stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => (JSON.parse(l) as { uid: string }).uid);
    return { uids, signal: run.signal, status: run.status };
  }

  it('writes stdout synchronously when the event-loop turn ends: a process killed on its next turn has every line out', () => {
    const run = linesBefore(`setImmediate(() => process.kill(process.pid, 'SIGKILL'));`);
    expect(run.signal).toBe('SIGKILL');
    expect(run.uids).toEqual(['u-0', 'u-1', 'u-2']);
  });

  it('writes what is waiting when the process exits, also on process.exit in the same turn and after an uncaught exception', () => {
    expect(linesBefore('process.exit(3);')).toEqual({ uids: ['u-0', 'u-1', 'u-2'], signal: null, status: 3 });
    const crashed = linesBefore(`throw new Error('boom');`);
    expect(crashed.status).not.toBe(0);
    expect(crashed.uids).toEqual(['u-0', 'u-1', 'u-2']);
  });

  it('does not keep a finished process alive for a line still waiting', () => {
    expect(linesBefore('')).toEqual({ uids: ['u-0', 'u-1', 'u-2'], signal: null, status: 0 });
  });
});

describe('isoTimeFormatter', () => {
  it('gives what Date#toISOString gives, also for times in the same second one after another', () => {
    const iso = isoTimeFormatter();
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -62_198_755_200_000, max: 8_640_000_000_000_000 }), { minLength: 1, maxLength: 5 }), fc.array(fc.nat(999), { maxLength: 4 }), (times, offsets) => {
        for (const t of times) {
          expect(iso(t)).toBe(new Date(t).toISOString());
          const second = Math.floor(t / 1000) * 1000;
          for (const o of offsets) {
            const u = Math.min(second + o, 8_640_000_000_000_000);
            expect(iso(u)).toBe(new Date(u).toISOString());
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
