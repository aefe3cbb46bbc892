import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { PactV4 } from '@pact-foundation/pact';

// Pact files live in pacts/ at the repository root and are checked in. Consumer tests write a
// fresh pact into a temporary directory and compare it with the checked-in one (UPDATE_PACTS=1
// writes it instead); provider tests verify the checked-in files. So verification never depends
// on the consumer tests having run first, and a consumer change that alters a contract fails
// until the new pact is reviewed and committed (docs/adr/0014-pact-contracts.md).

// The Pact core reports anonymous usage statistics over the internet unless told not to.
process.env['PACT_DO_NOT_TRACK'] = 'true';

export const PACTS_DIR = fileURLToPath(new URL('../../../pacts/', import.meta.url));

/** The checked-in pact between a consumer and a provider. */
export const pactFile = (consumer: string, provider: string): string => join(PACTS_DIR, `${consumer}-${provider}.json`);

export interface ConsumerContract {
  pact: PactV4;
  /**
   * Compares the pact the tests generated with the checked-in one (ignoring the tool versions in
   * `metadata`) and throws on a difference; with UPDATE_PACTS=1 it writes the checked-in one.
   */
  settle(): void;
}

interface PactJson {
  interactions?: { description: string; providerStates?: { name: string }[] }[];
  metadata?: unknown;
}

const keyOf = (interaction: NonNullable<PactJson['interactions']>[number]): string =>
  `"${interaction.description}"${(interaction.providerStates ?? []).map((state) => ` given "${state.name}"`).join('')}`;

/** Which interactions were added, removed or changed, for the error message. */
function differences(expected: PactJson, actual: PactJson): string[] {
  const before = new Map((expected.interactions ?? []).map((interaction) => [keyOf(interaction), interaction]));
  const after = new Map((actual.interactions ?? []).map((interaction) => [keyOf(interaction), interaction]));
  const lines: string[] = [];
  for (const [key, interaction] of after) {
    if (!before.has(key)) lines.push(`  + ${key}`);
    else if (!isDeepStrictEqual(before.get(key), interaction)) lines.push(`  ~ ${key}`);
  }
  for (const key of before.keys()) if (!after.has(key)) lines.push(`  - ${key}`);
  return lines.length > 0 ? lines : ['  (outside the interactions)'];
}

/** A V4 pact for the tests of one consumer-provider pair, written to a temporary directory. */
export function consumerContract(consumer: string, provider: string): ConsumerContract {
  const dir = mkdtempSync(join(tmpdir(), `pact-${consumer}-${provider}-`));
  const pact = new PactV4({ consumer, provider, dir, logLevel: 'error' });
  const checkedIn = pactFile(consumer, provider);
  return {
    pact,
    settle() {
      const generated = readFileSync(join(dir, `${consumer}-${provider}.json`), 'utf8');
      rmSync(dir, { recursive: true, force: true });
      if (process.env['UPDATE_PACTS'] === '1') {
        writeFileSync(checkedIn, generated);
        return;
      }
      const update = 'regenerate it with `pnpm --filter @agora/contracts pacts:update`, review the diff and commit it';
      if (!existsSync(checkedIn)) throw new Error(`pacts/${consumer}-${provider}.json is missing: ${update}`);
      const actual = JSON.parse(generated) as PactJson;
      const expected = JSON.parse(readFileSync(checkedIn, 'utf8')) as PactJson;
      if (!isDeepStrictEqual({ ...actual, metadata: undefined }, { ...expected, metadata: undefined })) {
        throw new Error(`pacts/${consumer}-${provider}.json is not what the consumer tests expect now:\n${differences(expected, actual).join('\n')}\n${update}`);
      }
    },
  };
}
