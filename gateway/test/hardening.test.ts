import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestIssuer, startTestSubgraph, type TestIssuer, type TestSubgraph } from '@agora/testing';
import type { Context } from '../../subgraphs/inventory/src/context.ts';
import { inventorySubgraph } from '../../subgraphs/inventory/src/subgraph.ts';
import type { RunningGateway } from '../src/server.ts';
import { codesOf, graphql, send, startTestGateway } from './support.ts';

// Tight limits, so that each query below breaks exactly one of them; the catalog comes from a real inventory subgraph.
const LIMITS = { GRAPHQL_MAX_DEPTH: '3', GRAPHQL_MAX_COST: '20', GRAPHQL_MAX_ALIASES: '2', GRAPHQL_MAX_DIRECTIVES: '3', GRAPHQL_MAX_TOKENS: '40', BODY_LIMIT_BYTES: '2048' };

let issuer: TestIssuer;
let inventory: TestSubgraph<Context>;
let gateway: RunningGateway;
let production: RunningGateway;
beforeAll(async () => {
  issuer = await startTestIssuer();
  inventory = await startTestSubgraph(inventorySubgraph, { issuer });
  const routing = { SUBGRAPH_TRANSPORT: 'direct', SUBGRAPH_INVENTORY_URL: inventory.service.url };
  gateway = await startTestGateway(issuer.issuer, { ...routing, ...LIMITS });
  production = await startTestGateway(issuer.issuer, { ...routing, NODE_ENV: 'production' });
});
afterAll(async () => {
  await gateway?.stop();
  await production?.stop();
  await inventory?.close();
  await issuer?.close();
});

async function expectTooComplex(query: string, limit: string): Promise<void> {
  const response = await graphql(gateway.url, query);
  expect(response.status).toBe(400);
  expect(response.data).toBeUndefined();
  expect(response.errors).toHaveLength(1);
  expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX', details: { limit } });
}

async function expectAnswered(query: string): Promise<void> {
  const response = await graphql<{ products: unknown }>(gateway.url, query);
  expect(response.errors).toBeUndefined();
  expect(response.data?.products).toBeTruthy();
}

describe('query limits at the gateway', () => {
  it('refuses a query deeper than GRAPHQL_MAX_DEPTH with 400 QUERY_TOO_COMPLEX and answers one at the limit', async () => {
    await expectTooComplex('{ products { nodes { price { amount } } } }', 'depth');
    await expectAnswered('{ products { nodes { name } } }');
  });

  it('refuses a query whose cost exceeds GRAPHQL_MAX_COST', async () => {
    await expectTooComplex('{ products { totalCount pageInfo { hasNextPage endCursor } nodes { id sku name description stock inStock } } }', 'cost');
    await expectAnswered('{ products { totalCount nodes { id name } } }');
  });

  it('refuses more aliases than GRAPHQL_MAX_ALIASES', async () => {
    await expectTooComplex('{ a: products { totalCount } b: products { totalCount } c: products { totalCount } }', 'aliases');
    await expectAnswered('{ products: products { totalCount } b: products { totalCount } }');
  });

  it('refuses more directives than GRAPHQL_MAX_DIRECTIVES', async () => {
    await expectTooComplex('{ products { totalCount @include(if: true) nodes @include(if: true) { id @include(if: true) name @skip(if: false) } } }', 'directives');
    await expectAnswered('{ products { totalCount @include(if: true) nodes @include(if: true) { id @include(if: true) name } } }');
  });

  it('stops parsing a document longer than GRAPHQL_MAX_TOKENS with 400 GRAPHQL_PARSE_FAILED', async () => {
    const response = await graphql(gateway.url, `{ products { ${'totalCount '.repeat(40)}} }`);
    expect(response.status).toBe(400);
    expect(codesOf(response)).toEqual(['GRAPHQL_PARSE_FAILED']);
    expect(response.errors?.[0]?.message).toMatch(/40 tokens/);
    await expectAnswered('{ products(first: 1, search: "usb") { totalCount } }');
  });
});

describe('HTTP hardening at the gateway', () => {
  it('refuses a batch of operations in one request with 400 BAD_REQUEST', async () => {
    const response = await send(gateway.url, JSON.stringify([{ query: '{ __typename }' }, { query: '{ __typename }' }]));
    expect(response.status).toBe(400);
    expect(codesOf(response)).toEqual(['BAD_REQUEST']);
    expect(response.errors?.[0]?.message).toMatch(/batching/i);
  });

  it('blocks requests a page on another site could send without a preflight (CSRF)', async () => {
    const query = encodeURIComponent('{ __typename }');
    const simpleGet = await fetch(`${gateway.url}?query=${query}`);
    expect(simpleGet.status).toBe(400);
    expect(await simpleGet.text()).toMatch(/Cross-Site Request Forgery/);
    const textPlain = await fetch(gateway.url, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ query: '{ __typename }' }) });
    expect(textPlain.status).toBe(400);
    const preflighted = await fetch(`${gateway.url}?query=${query}`, { headers: { 'apollo-require-preflight': 'true' } });
    expect(preflighted.status).toBe(200);
  });

  it('refuses a body larger than BODY_LIMIT_BYTES with 413 PAYLOAD_TOO_LARGE', async () => {
    const padding = 'x'.repeat(2048);
    const response = await send(gateway.url, JSON.stringify({ query: '{ __typename }', variables: { padding } }));
    expect(response.status).toBe(413);
    expect(codesOf(response)).toEqual(['PAYLOAD_TOO_LARGE']);
    const small = await send(gateway.url, JSON.stringify({ query: '{ __typename }', variables: { padding: padding.slice(0, 1024) } }));
    expect(small.status).toBe(200);
  });

  it('suggests field names in development but not in production', async () => {
    const typo = '{ prodcts { totalCount } }';
    const development = await graphql(gateway.url, typo);
    expect(development.errors?.[0]?.message).toMatch(/Did you mean "products"/);
    const hidden = await graphql(production.url, typo);
    expect(codesOf(hidden)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    expect(hidden.errors?.[0]?.message).not.toMatch(/products/);
  });
});
