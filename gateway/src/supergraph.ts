import { readFileSync } from 'node:fs';
import { composeServices } from '@apollo/composition';
import { gql } from 'graphql-tag';

/** The subgraphs of the supergraph, with the URL the gateway uses when nothing overrides it. */
export const subgraphs = [
  { name: 'users', url: 'http://127.0.0.1:4001/graphql' },
  { name: 'inventory', url: 'http://127.0.0.1:4002/graphql' },
  { name: 'orders', url: 'http://127.0.0.1:4003/graphql' },
  { name: 'payments', url: 'http://127.0.0.1:4004/graphql' },
] as const;
export type SubgraphName = (typeof subgraphs)[number]['name'];

export const supergraphPath = new URL('../supergraph.graphql', import.meta.url);

const schemaOf = (name: string) => new URL(`../../subgraphs/${name}/schema.graphql`, import.meta.url);

/** Composes the supergraph SDL from the subgraphs' schema files; throws with every composition error. */
export function composeSupergraph(): string {
  const result = composeServices(subgraphs.map(({ name, url }) => ({ name, url, typeDefs: gql(readFileSync(schemaOf(name), 'utf8')) })));
  if (result.errors) {
    throw new Error(`supergraph composition failed:\n${result.errors.map((error) => `  - ${error.message}`).join('\n')}`);
  }
  return result.supergraphSdl;
}
