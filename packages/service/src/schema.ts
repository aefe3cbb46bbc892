import { readFileSync } from 'node:fs';
import type { DocumentNode } from 'graphql';
import { gql } from 'graphql-tag';

/** Parses a schema file (a subgraph's schema.graphql) once, at start. */
export const loadTypeDefs = (url: URL): DocumentNode => gql(readFileSync(url, 'utf8'));
