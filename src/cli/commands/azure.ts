/**
 * `flyte-secrets azure …`: Flyte's Azure Key Vault name codec and value envelope on the command line
 * (Flyte: `secret/azure_utils.go`), for platform teams who store Flyte-native secrets in Key Vault by hand or by script.
 *
 * - `azure encode-name --org O --domain D --project P [--] NAME` prints the Key Vault secret name;
 * - `azure decode-name NAME` prints `{"org","domain","project","name"}` as JSON;
 * - `azure encode-value (--string S | --binary-file F)` prints the envelope to store as the secret's value;
 * - `azure decode-value` reads an envelope on stdin and writes the raw value bytes to stdout.
 *
 * @module
 */
import type { Command } from 'commander';
import { decodeKeyVaultName, keyVaultNameForId } from '../../azure/secret-name.js';
import { decodeEnvelope, decodeKeyVaultValue, encodeBinaryEnvelope, encodeStringEnvelope } from '../../azure/secret-value.js';
import { CliError, printLine, readInput, readStdin, writeBytes } from '../io.js';
import { DEFAULT_ORG } from '../../secret/flyte-id.js';

interface EncodeNameOptions {
  org?: string;
  domain?: string;
  project?: string;
}

interface EncodeValueOptions {
  string?: string;
  binaryFile?: string;
}

interface DecodeValueOptions {
  plain?: boolean;
}

/** Register the `azure` command group on `program`. */
export function register(program: Command): void {
  const azure = program
    .command('azure')
    .description('Azure Key Vault: encode and decode Flyte secret names and value envelopes (no network access)')
    .addHelpText(
      'after',
      '\nExample (store a project-scoped Flyte secret with the Azure CLI):\n' +
        '  $ az keyvault secret set --vault-name myvault \\\n' +
        '      --name "$(flyte-secrets azure encode-name --org flyte --domain development --project flytesnacks my-secret)" \\\n' +
        '      --file <(flyte-secrets azure encode-value --binary-file ./my-secret.txt)',
    );

  azure
    .command('encode-name')
    .description(
      'Print the Key Vault secret name of a Flyte secret (--domain or --project left out is an empty component: ' +
        'leave out --project for a domain-scoped secret, --project and --domain for an org-scoped one)',
    )
    .option('--org <org>', 'organisation (Flyte OSS always uses "flyte"; --org "" for none)', DEFAULT_ORG)
    .option('--domain <domain>', 'domain, e.g. development', '')
    .option('--project <project>', 'project, e.g. flytesnacks', '')
    .argument('<name>', 'the secret key as tasks request it; put -- before a name that starts with "-"')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  $ flyte-secrets azure encode-name --org flyte --domain development --project flytesnacks my-secret\n' +
        '  1-flyte-development-flytesnacks-NV4S243FMNZGK5A\n' +
        '  $ flyte-secrets azure encode-name --org flyte -- -starts-with-dash',
    )
    .action((name: string, options: EncodeNameOptions) => {
      printLine(
        keyVaultNameForId({ org: options.org ?? '', domain: options.domain ?? '', project: options.project ?? '', name }),
      );
    });

  azure
    .command('decode-name')
    .description('Print the Flyte secret id behind a Key Vault secret name, as JSON')
    .argument('<name>', 'a Key Vault secret name written by Flyte (1-<org>-<domain>-<project>-<BASE32 name>)')
    .addHelpText(
      'after',
      '\nExample:\n' +
        '  $ flyte-secrets azure decode-name 1-flyte-development--NV4S243FMNZGK5A\n' +
        '  {"org":"flyte","domain":"development","project":"","name":"my-secret"}',
    )
    .action((name: string) => {
      const id = decodeKeyVaultName(name);
      printLine(JSON.stringify({ org: id.org, domain: id.domain, project: id.project, name: id.name }));
    });

  azure
    .command('encode-value')
    .description(
      'Print the Flyte envelope to store as a Key Vault secret value (exactly one of --string, --binary-file); ' +
        'no trailing newline unless standard output is a terminal, so the output can be stored as is',
    )
    .option('--string <text>', 'a text value (note: visible to other users in the process list; prefer a file for real secrets)')
    .option('--binary-file <file>', 'a file whose bytes are the value ("-" reads standard input)')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  $ flyte-secrets azure encode-value --string s3cr3t\n' +
        '  {"type":"STRING","value":"s3cr3t"}\n' +
        '  $ flyte-secrets azure encode-value --binary-file ./key.der > envelope.json',
    )
    .action(async (options: EncodeValueOptions) => {
      const given = [options.string, options.binaryFile].filter((o) => o !== undefined).length;
      if (given !== 1) {
        throw new CliError('encode-value needs exactly one of --string <text> or --binary-file <file>', 2);
      }
      const envelope =
        options.string !== undefined
          ? encodeStringEnvelope(options.string)
          : encodeBinaryEnvelope(await readInput(options.binaryFile ?? '-'));
      // The envelope is data: write it byte for byte, with a newline only for a human at a terminal.
      if (process.stdout.isTTY) printLine(envelope);
      else await writeBytes(new TextEncoder().encode(envelope));
    });

  azure
    .command('decode-value')
    .description('Read a Flyte envelope on standard input and write the raw value bytes to standard output')
    .option('--plain', 'also accept a value that is not an envelope (e.g. hunter2) and print it unchanged', false)
    .addHelpText(
      'after',
      '\nExamples:\n' +
        `  $ echo '{"type":"BINARY","value":"SGVsbG8="}' | flyte-secrets azure decode-value\n` +
        '  Hello\n' +
        '  $ az keyvault secret show --id "$URI" --query value -o tsv | flyte-secrets azure decode-value > value.bin',
    )
    .action(async (options: DecodeValueOptions) => {
      const text = new TextDecoder('utf-8').decode(await readStdin());
      // The codecs' messages never quote the input (it is a secret), so their errors are reported as they are.
      const value = options.plain === true ? decodeKeyVaultValue(text, { plainValues: 'string' }) : decodeEnvelope(text);
      await writeBytes(value.bytes());
    });
}
