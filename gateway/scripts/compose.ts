// Recomposes gateway/supergraph.graphql from the subgraph schemas (`pnpm compose`).
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { composeSupergraph, supergraphPath } from '../src/supergraph.ts';

try {
  writeFileSync(supergraphPath, composeSupergraph());
  console.log(`wrote ${fileURLToPath(supergraphPath)}`);
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
}
