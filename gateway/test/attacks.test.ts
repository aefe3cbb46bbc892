import { createHmac, createPublicKey, randomBytes, type JsonWebKey } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devUserIds, startTestSubgraph, type TestIssuer, type TestSubgraph } from '@agora/testing';
import type { Context } from '../../subgraphs/inventory/src/context.ts';
import { inventorySubgraph } from '../../subgraphs/inventory/src/subgraph.ts';
import type { RunningGateway } from '../src/server.ts';
import { subgraphs, type SubgraphName } from '../src/supergraph.ts';
import { graphql, send, startSuiteIssuer, startTestGateway, type GraphQLResponse, type SuiteIssuer } from './support.ts';

// Issue 5's "Bad input" list, as one suite over HTTP. Two systems, each a gateway and a real
// inventory subgraph behind a counting proxy (so "not executed" is observed, not assumed):
// - `real`: trusts the realm issuer (the local provider, or AGORA_TEST_OIDC_ISSUER); its tokens come
//   from password grants with openid-client, and attacks start from them.
// - `minted`: trusts an issuer whose signing key this file holds, so that tokens wrong in exactly
//   one claim (issuer, audience, times, roles) carry a valid signature and only that check stops them.

const MICROPHONE = '7c0a1000-0000-4000-8000-000000000020';
const RESTOCK = 'mutation Restock($id: ID!) { restockProduct(id: $id, quantity: 1) { stock } }';
const TYPENAME = '{ __typename }';
const BYSTANDER = 'query Bystander { products(first: 1) { totalCount } }';
// Rate limiting has its own suite; here every request of the file comes from one address.
const UNLIMITED = { RATE_LIMIT_MAX: '100000', RATE_LIMIT_ANONYMOUS_MAX: '100000' };

// ---- small local servers --------------------------------------------------------------------

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function closeServer(server: Server | undefined): Promise<void> {
  if (!server?.listening) return;
  const closed = new Promise((resolve) => server.close(resolve));
  server.closeAllConnections();
  await closed;
}

async function bodyOf(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const sendJson = (response: ServerResponse, status: number, body: unknown) => {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
};

interface SubgraphCall {
  readonly subgraph: string;
  readonly body: string;
}

/** Forwards `/<subgraph>/graphql` to the subgraph's URL and records every call; subgraphs without a URL answer 502. */
interface SubgraphProxy {
  readonly calls: SubgraphCall[];
  routing(): Record<string, string>;
  close(): Promise<void>;
}

async function startSubgraphProxy(upstreams: Partial<Record<SubgraphName, string>>): Promise<SubgraphProxy> {
  const calls: SubgraphCall[] = [];
  const server = createServer((request, response) => {
    void (async () => {
      const subgraph = (request.url ?? '').split('/')[1] ?? '';
      const body = await bodyOf(request);
      calls.push({ subgraph, body });
      const upstream = upstreams[subgraph as SubgraphName];
      if (upstream === undefined) return sendJson(response, 502, { errors: [{ message: `${subgraph} is not running in this suite` }] });
      const headers: Record<string, string> = {};
      for (const name of ['content-type', 'authorization', 'traceparent']) {
        const value = request.headers[name];
        if (typeof value === 'string') headers[name] = value;
      }
      const answer = await fetch(upstream, { method: request.method ?? 'POST', headers, body });
      response.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' }).end(await answer.text());
    })().catch((error: unknown) => sendJson(response, 500, { errors: [{ message: String(error) }] }));
  });
  const url = await listen(server);
  return {
    calls,
    routing: () => ({
      SUBGRAPH_TRANSPORT: 'direct',
      ...Object.fromEntries(subgraphs.map(({ name }) => [`SUBGRAPH_${name.toUpperCase()}_URL`, `${url}/${name}/graphql`])),
    }),
    close: () => closeServer(server),
  };
}

/** A server that only records what reaches it: where `jku`/`x5u` point. */
interface Recorder {
  readonly url: string;
  readonly requests: string[];
  close(): Promise<void>;
}

async function startRecorder(jwks: { keys: JWK[] }): Promise<Recorder> {
  const requests: string[] = [];
  const server = createServer((request, response) => {
    requests.push(`${request.method ?? ''} ${request.url ?? ''}`);
    sendJson(response, 200, jwks);
  });
  return { url: await listen(server), requests, close: () => closeServer(server) };
}

interface KeyPair {
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
  readonly kid: string;
}

async function newKeyPair(): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  return { privateKey, publicJwk: { ...publicJwk, kid, alg: 'RS256', use: 'sig' }, kid };
}

/** An issuer at a Keycloak-shaped path whose key this file holds: discovery and JWKS only. */
interface MintIssuer extends TestIssuer {
  readonly origin: string;
  readonly jwksDownloads: () => number;
  /** A Keycloak-shaped access token for `roles`, valid now; `changes` override or (as undefined) remove claims. */
  mint(roles: string[], changes?: Record<string, unknown>, header?: Record<string, unknown>): Promise<string>;
}

const now = () => Math.floor(Date.now() / 1000);

async function startMintIssuer(): Promise<MintIssuer> {
  const key = await newKeyPair();
  let downloads = 0;
  let issuer = '';
  const server = createServer((request, response) => {
    if (request.url === '/realms/agora/.well-known/openid-configuration') {
      return sendJson(response, 200, { issuer, jwks_uri: `${issuer}/protocol/openid-connect/certs` });
    }
    if (request.url === '/realms/agora/protocol/openid-connect/certs') {
      downloads += 1;
      return sendJson(response, 200, { keys: [key.publicJwk] });
    }
    sendJson(response, 404, { error: 'not found' });
  });
  const origin = await listen(server);
  issuer = `${origin}/realms/agora`;
  const mint = async (roles: string[], changes: Record<string, unknown> = {}, header: Record<string, unknown> = {}) => {
    const base: Record<string, unknown> = {
      iss: issuer,
      aud: 'agora-gateway',
      azp: 'agora-cli',
      typ: 'Bearer',
      sub: devUserIds.admin,
      preferred_username: 'minted',
      realm_access: { roles },
      iat: now(),
      exp: now() + 300,
      ...changes,
    };
    const claims: JWTPayload = Object.fromEntries(Object.entries(base).filter(([, value]) => value !== undefined));
    return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: key.kid, ...header }).sign(key.privateKey);
  };
  return {
    issuer,
    origin,
    jwksDownloads: () => downloads,
    mint,
    tokenFor: (user) => mint(user === 'admin' ? ['admin', 'customer'] : ['customer'], { sub: devUserIds[user], preferred_username: user }),
    serviceToken: () => mint([], { sub: '5a1f0c1e-0000-4000-8000-0000000000aa' }),
    rotateKeys: () => Promise.reject(new Error('the minting issuer has one key')),
    close: () => closeServer(server),
  };
}

// ---- token surgery ---------------------------------------------------------------------------

const encode = (part: unknown) => Buffer.from(JSON.stringify(part)).toString('base64url');
const unsigned = (header: Record<string, unknown>, payload: unknown, signature = '') => `${encode(header)}.${encode(payload)}.${signature}`;

/** HS256 by hand, so that any secret (even an empty one) can be used, as an attacker would. */
function hs256(header: Record<string, unknown>, payload: unknown, secret: string | Buffer): string {
  const input = `${encode({ ...header, alg: 'HS256' })}.${encode(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

const signWith = (key: KeyPair, payload: JWTPayload, header: Record<string, unknown>) =>
  new SignJWT(payload).setProtectedHeader({ alg: 'RS256', typ: 'JWT', ...header }).sign(key.privateKey);

// ---- the two systems ---------------------------------------------------------------------------

interface Target {
  readonly name: string;
  readonly gateway: RunningGateway;
  readonly proxy: SubgraphProxy;
  /** A token for a caller who is not attacking: reads and bystander queries use it. */
  readonly bystanderToken: () => Promise<string | undefined>;
}

let realm: SuiteIssuer;
let minter: MintIssuer;
let inventories: TestSubgraph<Context>[] = [];
let proxies: SubgraphProxy[] = [];
let real: Target;
let minted: Target;

beforeAll(async () => {
  [realm, minter] = await Promise.all([startSuiteIssuer(), startMintIssuer()]);
  inventories = await Promise.all([startTestSubgraph(inventorySubgraph, { issuer: realm }), startTestSubgraph(inventorySubgraph, { issuer: minter })]);
  const [realInventory, mintedInventory] = inventories as [TestSubgraph<Context>, TestSubgraph<Context>];
  proxies = await Promise.all([startSubgraphProxy({ inventory: realInventory.service.url }), startSubgraphProxy({ inventory: mintedInventory.service.url })]);
  const [realProxy, mintedProxy] = proxies as [SubgraphProxy, SubgraphProxy];
  real = {
    name: 'default limits, realm issuer',
    gateway: await startTestGateway(realm.issuer, { ...realProxy.routing(), ...UNLIMITED }),
    proxy: realProxy,
    bystanderToken: () => Promise.resolve(undefined),
  };
  // Body and token limits raised so that the query-shape limits are the ones that act on the bombs.
  minted = {
    name: 'outer limits raised, minting issuer',
    gateway: await startTestGateway(minter.issuer, { ...mintedProxy.routing(), ...UNLIMITED, BODY_LIMIT_BYTES: '2000000', GRAPHQL_MAX_TOKENS: '200000' }),
    proxy: mintedProxy,
    bystanderToken: () => minter.tokenFor('bob'),
  };
}, 120_000);

afterAll(async () => {
  await Promise.all([real?.gateway.stop(), minted?.gateway.stop()]);
  await Promise.all(proxies.map((proxy) => proxy.close()));
  await Promise.all(inventories.map((inventory) => inventory.close()));
  await Promise.all([realm?.close(), minter?.close()]);
});

async function stockOf(target: Target): Promise<number> {
  const token = await target.bystanderToken();
  const response = await graphql<{ product: { stock: number } }>(target.gateway.url, `{ product(id: "${MICROPHONE}") { stock } }`, token ? { token } : {});
  const stock = response.data?.product.stock;
  if (stock === undefined) throw new Error(`cannot read the stock: ${JSON.stringify(response.errors)}`);
  return stock;
}

const restock = (target: Target, token: string, headers: Record<string, string> = {}) =>
  graphql<{ restockProduct: { stock: number } }>(target.gateway.url, RESTOCK, { token, variables: { id: MICROPHONE }, headers });

/** Runs `attack`, then checks that no subgraph was called meanwhile and that the stock did not move. */
async function withoutEffect<T>(target: Target, attack: () => Promise<T>): Promise<T> {
  const before = await stockOf(target);
  const seen = target.proxy.calls.length;
  const result = await attack();
  expect(target.proxy.calls.slice(seen)).toEqual([]);
  expect(await stockOf(target)).toBe(before);
  return result;
}

function expectUnauthenticated(response: GraphQLResponse<unknown>, reason: RegExp): void {
  expect({ status: response.status, code: response.errors?.[0]?.extensions?.code, data: response.data }).toEqual({ status: 401, code: 'UNAUTHENTICATED', data: undefined });
  expect(response.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
  expect(response.errors?.[0]?.message).toMatch(reason);
}

/** Sends the restock as `token` to the target and expects 401 with `reason`, no subgraph call and no stock change. */
async function expectRefused(target: Target, token: string, reason: RegExp): Promise<void> {
  expectUnauthenticated(await withoutEffect(target, () => restock(target, token)), reason);
}

// ---- tokens -----------------------------------------------------------------------------------

describe('the systems under attack', () => {
  it('restock the microphone for a genuine admin token on both, so each refusal below is a refusal of a working mutation', async () => {
    for (const [target, token] of [
      [real, await realm.tokenFor('admin')],
      [minted, await minter.tokenFor('admin')],
    ] as const) {
      const before = await stockOf(target);
      const response = await restock(target, token);
      expect(response.errors).toBeUndefined();
      expect(response.data?.restockProduct.stock).toBe(before + 1);
      expect(target.proxy.calls.at(-1)?.body).toMatch(/restockProduct/);
    }
  });
});

describe('forged and misused tokens at the gateway (401 UNAUTHENTICATED, nothing executed)', () => {
  it('refuses alg "none" carrying the payload of a genuine admin token, in any spelling, with or without the signature', async () => {
    const genuine = await realm.tokenFor('admin');
    const [, payload, signature] = genuine.split('.') as [string, string, string];
    const claims = decodeJwt(genuine);
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      await expectRefused(real, unsigned({ alg, typ: 'JWT' }, claims), /algorithm that is not allowed/);
      await expectRefused(real, `${encode({ alg, typ: 'JWT' })}.${payload}.${signature}`, /algorithm that is not allowed/);
    }
  });

  it('refuses HS256 signed with the issuer’s RSA public key (PEM and JWK text) as the secret', async () => {
    const genuine = await realm.tokenFor('admin');
    const { kid } = decodeProtectedHeader(genuine);
    const { keys } = (await (await fetch(`${realm.issuer}/protocol/openid-connect/certs`)).json()) as { keys: JWK[] };
    const published = keys.find((key) => key.kid === kid) ?? keys[0];
    const pem = createPublicKey({ key: published as JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString();
    for (const secret of [pem, pem.trim(), JSON.stringify(published)]) {
      await expectRefused(real, hs256({ typ: 'JWT', kid }, decodeJwt(genuine), secret), /algorithm that is not allowed/);
    }
  });

  it('never fetches keys from jku or x5u, nor trusts an embedded jwk, and refuses those tokens', async () => {
    const attacker = await newKeyPair();
    const recorder = await startRecorder({ keys: [attacker.publicJwk] });
    try {
      const claims = decodeJwt(await realm.tokenFor('admin'));
      const genuineKid = decodeProtectedHeader(await realm.tokenFor('admin')).kid;
      const cases: [Record<string, unknown>, RegExp][] = [
        [{ kid: attacker.kid, jku: `${recorder.url}/jwks.json` }, /unknown key/],
        [{ kid: genuineKid, jku: `${recorder.url}/jwks.json` }, /signature is not valid/],
        [{ kid: attacker.kid, x5u: `${recorder.url}/cert.pem` }, /unknown key/],
        [{ kid: genuineKid, x5u: `${recorder.url}/cert.pem` }, /signature is not valid/],
        [{ kid: attacker.kid, jwk: attacker.publicJwk }, /unknown key/],
        [{ kid: genuineKid, jwk: attacker.publicJwk }, /signature is not valid/],
      ];
      for (const [header, reason] of cases) await expectRefused(real, await signWith(attacker, claims, header), reason);
      expect(recorder.requests).toEqual([]);
    } finally {
      await recorder.close();
    }
  });

  it('refuses kid values crafted for path traversal, SQL and log injection, and sheer length', async () => {
    const attacker = await newKeyPair();
    const claims = decodeJwt(await realm.tokenFor('admin'));
    const kids = ['../../../../../../dev/null', '/dev/null', "x' UNION SELECT 'secret' --", "' OR '1'='1", '${jndi:ldap://127.0.0.1:1/a}', 'kid\r\nX-Injected: 1', 'k'.repeat(6000)];
    for (const kid of kids) {
      await expectRefused(real, await signWith(attacker, claims, { kid }), /unknown key/);
      // The classic /dev/null trick: an HMAC keyed with the empty file's contents.
      await expectRefused(real, hs256({ typ: 'JWT', kid }, claims, ''), /algorithm that is not allowed/);
    }
  });

  it('downloads the JWKS again at most once for a burst of unknown kids (rate-limited refresh)', async () => {
    const attacker = await newKeyPair();
    const claims = decodeJwt(await minter.tokenFor('admin'));
    expect((await graphql(minted.gateway.url, TYPENAME, { token: await minter.tokenFor('admin') })).status).toBe(200);
    const before = minter.jwksDownloads();
    for (let i = 0; i < 20; i += 1) {
      expectUnauthenticated(await graphql(minted.gateway.url, TYPENAME, { token: await signWith(attacker, claims, { kid: `unknown-${i}` }) }), /unknown key/);
    }
    expect(minter.jwksDownloads() - before).toBeLessThanOrEqual(1);
  });

  it('refuses a validly signed token from another realm, with a trailing slash, over https, or under another host name', async () => {
    const issuers = [`${minter.origin}/realms/other`, `${minter.issuer}/`, minter.issuer.replace(/^http:/, 'https:'), minter.issuer.replace('127.0.0.1', 'localhost')];
    for (const iss of issuers) await expectRefused(minted, await minter.mint(['admin', 'customer'], { iss }), /claim iss/);
    expect((await graphql(minted.gateway.url, TYPENAME, { token: await minter.mint(['admin']) })).status).toBe(200);
  });

  it('refuses a validly signed token for another audience or without one', async () => {
    for (const aud of ['agora-cli', ['account', 'agora-web'], 'agora-gateway-other', undefined]) {
      await expectRefused(minted, await minter.mint(['admin', 'customer'], { aud }), /claim aud/);
    }
  });

  it('refuses the ID token and the refresh token of a real sign-in as access tokens, though the refresh token still works as one', async () => {
    const tokens = await realm.passwordTokens('admin', 'openid');
    const idToken = tokens.id_token;
    const refreshToken = tokens.refresh_token;
    if (idToken === undefined || refreshToken === undefined) throw new Error('the password grant returned no ID or refresh token');
    await expectRefused(real, idToken, /claim aud|not an access token/);
    // Opaque from the local provider; from Keycloak a JWT signed with a realm HMAC key.
    await expectRefused(real, refreshToken, /token is not valid|algorithm that is not allowed/);
    expect((await realm.refresh(refreshToken)).access_token).toEqual(expect.any(String));
  });

  it('refuses ID- and refresh-shaped tokens even when signed by the trusted key for the right audience (typ must be Bearer)', async () => {
    for (const typ of ['ID', 'Refresh', 'Offline', undefined]) {
      await expectRefused(minted, await minter.mint(['admin', 'customer'], { typ }), /not an access token/);
    }
  });

  it('refuses a token expired beyond the clock skew and accepts one within it', async () => {
    await expectRefused(minted, await minter.mint(['admin'], { iat: now() - 400, exp: now() - 45 }), /expired/);
    expect((await graphql(minted.gateway.url, TYPENAME, { token: await minter.mint(['admin'], { iat: now() - 400, exp: now() - 5 }) })).status).toBe(200);
  });

  it('refuses a token whose nbf lies beyond the clock skew and accepts one within it', async () => {
    await expectRefused(minted, await minter.mint(['admin'], { nbf: now() + 120 }), /claim nbf/);
    expect((await graphql(minted.gateway.url, TYPENAME, { token: await minter.mint(['admin'], { nbf: now() + 5 }) })).status).toBe(200);
  });

  it('refuses a genuine token whose payload was edited (roles, subject, expiry) with its signature kept', async () => {
    const genuine = await realm.tokenFor('alice');
    const [header, , signature] = genuine.split('.') as [string, string, string];
    const claims = decodeJwt(genuine);
    const edits: JWTPayload[] = [
      { ...claims, realm_access: { roles: ['admin', 'customer'] } },
      { ...claims, sub: devUserIds.admin, preferred_username: 'admin' },
      { ...claims, exp: (claims.exp ?? 0) + 86_400 },
    ];
    for (const edited of edits) await expectRefused(real, `${header}.${encode(edited)}.${signature}`, /signature is not valid/);
  });

  it('refuses garbage in the Authorization header', async () => {
    const values = [
      'Bearer',
      'Bearer null',
      'Bearer undefined',
      'Bearer a.b.c',
      'Bearer ...',
      'Bearer eyJ.eyJ.',
      'Bearer eyJhbGciOiJSUzI1NiJ9.e30.',
      `Bearer ${randomBytes(48).toString('base64url')}.${randomBytes(48).toString('base64url')}.${randomBytes(48).toString('base64url')}`,
      `Bearer ${'A'.repeat(8000)}`,
      'Bearer two tokens',
      'Token abc',
      'Basic YWRtaW46YWRtaW4tZGV2LXBhc3N3b3Jk',
    ];
    for (const authorization of values) {
      const response = await withoutEffect(real, () =>
        graphql(real.gateway.url, RESTOCK, { variables: { id: MICROPHONE }, headers: { authorization } }),
      );
      expect({ authorization: authorization.slice(0, 40), status: response.status, code: response.errors?.[0]?.extensions?.code }).toEqual({
        authorization: authorization.slice(0, 40),
        status: 401,
        code: 'UNAUTHENTICATED',
      });
    }
  });

  it('refuses a token in the query string with 400 BAD_REQUEST instead of answering as if anonymous', async () => {
    const token = await realm.tokenFor('admin');
    const body = JSON.stringify({ query: RESTOCK, variables: { id: MICROPHONE } });
    const attempts = [
      () => fetch(`${real.gateway.url}?access_token=${token}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }),
      () => fetch(`${real.gateway.url}graphql?x=1&access_token=${token}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }),
      () => fetch(`${real.gateway.url}?access_token=${token}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body }),
      () => fetch(`${real.gateway.url}?query=${encodeURIComponent(TYPENAME)}&access_token=${token}`, { headers: { 'apollo-require-preflight': 'true' } }),
    ];
    for (const attempt of attempts) {
      const response = await withoutEffect(real, attempt);
      const answer = (await response.json()) as GraphQLResponse;
      expect({ status: response.status, code: answer.errors?.[0]?.extensions?.code, data: answer.data }).toEqual({ status: 400, code: 'BAD_REQUEST', data: undefined });
      expect(answer.errors?.[0]?.message).toMatch(/Authorization header/);
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_request"/);
    }
    // RFC 6750 §2.2, the form-encoded body: the gateway parses no forms, so it never reads the token.
    const form = await withoutEffect(real, () =>
      fetch(real.gateway.url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ access_token: token, query: RESTOCK }) }),
    );
    expect(form.status).toBe(415);
  });
});

describe('roles in the wrong place', () => {
  it('does not grant admin for an admin role found only under another client’s resource_access', async () => {
    const resourceAccess = { 'agora-service': { roles: ['admin'] }, 'agora-gateway': { roles: ['admin'] }, account: { roles: ['admin', 'manage-account'] } };
    for (const [roles, code] of [
      [['customer'], 'FORBIDDEN'],
      [[], 'UNAUTHENTICATED'],
    ] as const) {
      const token = await minter.mint([...roles], { resource_access: resourceAccess });
      const before = await stockOf(minted);
      const response = await restock(minted, token);
      expect(response.data?.restockProduct ?? null).toBeNull();
      expect(response.errors?.map((error) => error.extensions?.code)).toEqual([code]);
      expect(await stockOf(minted)).toBe(before);
    }
  });
});

// ---- query bombs ------------------------------------------------------------------------------

const aliases = (count: number) => `query Aliases { ${Array.from({ length: count }, (_, i) => `a${i}: products { totalCount }`).join(' ')} }`;
const deep = (depth: number) => `query Deep { me { ${'orders { customer { '.repeat((depth - 1) / 2)}id${' } }'.repeat((depth - 1) / 2)} } }`;
const FRAGMENT_CYCLE = 'query Cycle { ...A } fragment A on Query { products { totalCount } ...B } fragment B on Query { ...C } fragment C on Query { ...A }';
/** Each fragment spreads the previous one twice: 2^levels fields once expanded, in a few hundred bytes. */
const fragmentFanOut = (levels: number) =>
  `query FanOut { ...F${levels} } fragment F0 on Query { products { totalCount } } ${Array.from({ length: levels }, (_, i) => `fragment F${i + 1} on Query { ...F${i} ...F${i} }`).join(' ')}`;
const manyOperations = (count: number) => Array.from({ length: count }, (_, i) => `query Op${i} { products { totalCount } }`).join(' ');
const batch = (count: number) => JSON.stringify(Array.from({ length: count }, (_, i) => ({ query: `query Op${i} { products { totalCount } }` })));
const json = (query: string) => JSON.stringify({ query });

interface Bomb {
  name: string;
  body: string;
  /** Per target: HTTP status, codes, and the limit named in `details` when the code is QUERY_TOO_COMPLEX. */
  expected: (target: Target) => { status: number; codes: string[]; limit?: string };
}

const bombs: Bomb[] = [
  {
    name: '10,000 aliases',
    body: json(aliases(10_000)),
    expected: (target) => (target === real ? { status: 413, codes: ['PAYLOAD_TOO_LARGE'] } : { status: 400, codes: ['QUERY_TOO_COMPLEX'], limit: 'aliases' }),
  },
  { name: 'a query 50 levels deep', body: json(deep(51)), expected: () => ({ status: 400, codes: ['QUERY_TOO_COMPLEX'], limit: 'depth' }) },
  { name: 'a fragment cycle', body: json(FRAGMENT_CYCLE), expected: () => ({ status: 400, codes: ['GRAPHQL_VALIDATION_FAILED'] }) },
  { name: 'fragments fanning out to 2^40 fields', body: json(fragmentFanOut(40)), expected: () => ({ status: 400, codes: ['QUERY_TOO_COMPLEX'], limit: 'cost' }) },
  // Regression: Apollo Gateway's executor threw here, answering 500 INTERNAL_SERVER_ERROR.
  { name: '100 operations in one document without operationName', body: json(manyOperations(100)), expected: () => ({ status: 400, codes: ['OPERATION_RESOLUTION_FAILURE'] }) },
  { name: 'a batch of 100 operations', body: batch(100), expected: () => ({ status: 400, codes: ['BAD_REQUEST'] }) },
];

describe('operation selection', () => {
  it('answers an unknown operationName with 400 OPERATION_RESOLUTION_FAILURE, not 500', async () => {
    const body = JSON.stringify({ query: 'query A { products { totalCount } } query B { products { totalCount } }', operationName: 'C' });
    const response = await withoutEffect(real, () => send(real.gateway.url, body));
    expect({ status: response.status, codes: response.errors?.map((error) => error.extensions?.code) }).toEqual({ status: 400, codes: ['OPERATION_RESOLUTION_FAILURE'] });
    expect(response.errors?.[0]?.message).toBe('Unknown operation named "C"');
  });
});

describe.each([
  ['default limits, realm issuer', () => real],
  ['outer limits raised, minting issuer', () => minted],
])('query bombs at the gateway with %s', (_name, targetOf) => {
  it.each(bombs)('refuses $name before any subgraph is called, while a concurrent normal query is answered promptly', async (bomb) => {
    const target = targetOf();
    const token = await target.bystanderToken();
    const options = token ? { token } : {};
    const before = await stockOf(target);
    const seen = target.proxy.calls.length;
    const bystander = async () => {
      const started = performance.now();
      const response = await graphql<{ products: { totalCount: number } }>(target.gateway.url, BYSTANDER, options);
      return { response, ms: performance.now() - started };
    };
    const [refused, other] = await Promise.all([send(target.gateway.url, bomb.body, options), bystander()]);

    const expected = bomb.expected(target);
    const codes = [...new Set((refused.errors ?? []).map((error) => error.extensions?.code))];
    expect({ status: refused.status, codes, data: refused.data }).toEqual({ status: expected.status, codes: expected.codes, data: undefined });
    if (expected.limit) {
      expect(refused.errors?.map((error) => error.extensions?.details?.['limit'])).toContain(expected.limit);
    }
    // Only the bystander's own subgraph fetch (operation Bystander__inventory__0) reached a subgraph.
    const calls = target.proxy.calls.slice(seen);
    expect(calls.filter((call) => !call.body.includes('Bystander')).map((call) => call.body.slice(0, 200))).toEqual([]);
    expect(calls).toHaveLength(1);
    expect(other.response.errors).toBeUndefined();
    expect(other.response.data?.products.totalCount).toBe(20);
    expect(other.ms).toBeLessThan(5_000);
    expect(await stockOf(target)).toBe(before);
  });
});
