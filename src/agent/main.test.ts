import { describe, expect, it } from 'vitest';
import { AGENT_NO_IDENTITY_MESSAGE, runAgentCli } from './main.js';

async function run(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const code = await runAgentCli(argv, { env, log: (l) => lines.push(l) });
  return { code, lines };
}

const URI = 'https://kv-e2e.vault.azure.net/secrets/db';

describe('runAgentCli', () => {
  it('bad arguments: exit 2 and one usage line', async () => {
    const r = await run(['--', '--file', 'nope']);
    expect(r.code).toBe(2);
    expect(r.lines).toEqual(['flyte-secrets agent: --file "nope" is not SOURCE=PATH (run flyte-secrets agent --help for usage)']);
  });

  it('embedded:<i> without --broker: exit 2, naming the source, before anything is fetched or written', async () => {
    const r = await run(['--', '--file', 'embedded:0=/nonexistent-dir/x', '--file', `${URI}=/nonexistent-dir/y`]);
    expect(r.code).toBe(2);
    expect(r.lines).toEqual(['flyte-secrets agent: embedded:0: an Embedded secret needs a broker to fetch it, and this agent was given none (--broker and --token-file); nothing was written']);
  });

  it('a Key Vault secret without workload identity env: exit 1 at once, saying what to set', async () => {
    const r = await run(['--', '--file', `${URI}=/nonexistent-dir/y`], { AZURE_CLIENT_ID: 'c' });
    expect(r.code).toBe(1);
    expect(r.lines).toEqual([`flyte-secrets agent: ${AGENT_NO_IDENTITY_MESSAGE}; nothing was written`]);
  });
});
