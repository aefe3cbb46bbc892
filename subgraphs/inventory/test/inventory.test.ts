import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSubgraph, type TestSubgraph } from '@agora/testing';
import type { Context } from '../src/context.ts';
import { inventorySubgraph } from '../src/subgraph.ts';

const KEYBOARD = '7c0a1000-0000-4000-8000-000000000001';
const MICROPHONE = '7c0a1000-0000-4000-8000-000000000020';
const UNKNOWN = '7c0a1000-0000-4000-8000-00000000ffff';

interface ProductView {
  id: string;
  sku: string;
  name: string;
  stock: number;
  inStock: boolean;
  price: { amount: number; currency: string };
}

interface CatalogPage {
  products: { nodes: ProductView[]; pageInfo: { endCursor: string | null; hasNextPage: boolean } };
}

let subgraph: TestSubgraph<Context>;
beforeAll(async () => {
  subgraph = await startTestSubgraph(inventorySubgraph);
});
afterAll(() => subgraph?.close());

const PRODUCT = 'query($id: ID!) { product(id: $id) { id sku name stock inStock price { amount currency } } }';
const stockOf = async (id: string) => (await subgraph.execute<{ product: ProductView }>(PRODUCT, { id })).data?.product.stock;

describe('catalog', () => {
  it('lists the seeded catalog of twenty products in SKU order to anonymous callers', async () => {
    const { data, errors } = await subgraph.execute<{ products: { totalCount: number; nodes: ProductView[] } }>(
      '{ products(first: 100) { totalCount nodes { sku price { amount currency } } } }',
    );
    expect(errors).toBeUndefined();
    expect(data?.products.totalCount).toBe(20);
    const skus = data?.products.nodes.map((p) => p.sku) ?? [];
    expect(skus).toEqual([...skus].sort());
    expect(data?.products.nodes.every((p) => Number.isInteger(p.price.amount) && p.price.currency === 'EUR')).toBe(true);
  });

  it('pages through the catalog with the end cursor until there is no next page', async () => {
    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 10; page += 1) {
      const { data }: { data: CatalogPage | null | undefined } = await subgraph.execute<CatalogPage>(
        'query($after: String) { products(first: 7, after: $after) { nodes { sku } pageInfo { endCursor hasNextPage } } }',
        { after },
      );
      seen.push(...(data?.products.nodes.map((p) => p.sku) ?? []));
      if (!data?.products.pageInfo.hasNextPage) break;
      after = data.products.pageInfo.endCursor;
    }
    expect(seen).toHaveLength(20);
    expect(new Set(seen).size).toBe(20);
  });

  it('finds products by name regardless of case', async () => {
    const { data } = await subgraph.execute<{ products: { nodes: ProductView[] } }>('{ products(search: "usb-c") { nodes { name } } }');
    expect(data?.products.nodes.map((p) => p.name).sort()).toEqual(['USB-C cable 2 m', 'USB-C dock']);
  });

  it('rejects a page size outside 1..100 with BAD_USER_INPUT', async () => {
    const { errors } = await subgraph.execute('{ products(first: 0) { totalCount } }');
    expect(errors?.[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
  });

  it('reads one product with its available stock', async () => {
    const { data, errors } = await subgraph.execute<{ product: ProductView }>(PRODUCT, { id: KEYBOARD });
    expect(errors).toBeUndefined();
    expect(data?.product).toMatchObject({ id: KEYBOARD, sku: 'AGR-KB-001', name: 'Mechanical keyboard', inStock: true, price: { amount: 8900, currency: 'EUR' } });
    expect(data?.product.stock).toBeGreaterThan(0);
  });

  it('answers NOT_FOUND for an unknown product id and BAD_USER_INPUT for a malformed one', async () => {
    const unknown = await subgraph.execute(PRODUCT, { id: UNKNOWN });
    expect(unknown.errors?.[0]?.extensions?.['code']).toBe('NOT_FOUND');
    const malformed = await subgraph.execute(PRODUCT, { id: 'not-a-uuid' });
    expect(malformed.errors?.[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
  });

  it('resolves Product references for the gateway, null for unknown ids', async () => {
    const { data, errors } = await subgraph.execute<{ _entities: (ProductView | null)[] }>(
      'query($representations: [_Any!]!) { _entities(representations: $representations) { ... on Product { id name } } }',
      { representations: [{ __typename: 'Product', id: MICROPHONE }, { __typename: 'Product', id: UNKNOWN }, { __typename: 'Product', id: KEYBOARD }] },
    );
    expect(errors).toBeUndefined();
    expect(data?._entities).toEqual([{ id: MICROPHONE, name: 'Condenser microphone' }, null, { id: KEYBOARD, name: 'Mechanical keyboard' }]);
  });
});

describe('restockProduct', () => {
  const RESTOCK = 'mutation($id: ID!, $quantity: Int!) { restockProduct(id: $id, quantity: $quantity) { id stock } }';

  it('adds stock when an admin restocks', async () => {
    const before = await stockOf(MICROPHONE);
    const { data, errors } = await subgraph.execute<{ restockProduct: ProductView }>(RESTOCK, { id: MICROPHONE, quantity: 5 }, 'admin');
    expect(errors).toBeUndefined();
    expect(data?.restockProduct.stock).toBe((before ?? 0) + 5);
  });

  it('applies concurrent restocks without losing any', async () => {
    const before = (await stockOf(KEYBOARD)) ?? 0;
    await Promise.all(Array.from({ length: 8 }, () => subgraph.execute(RESTOCK, { id: KEYBOARD, quantity: 1 }, 'admin')));
    expect(await stockOf(KEYBOARD)).toBe(before + 8);
  });

  it('refuses customers with FORBIDDEN and anonymous callers with UNAUTHENTICATED, leaving stock unchanged', async () => {
    const before = await stockOf(MICROPHONE);
    const asCustomer = await subgraph.execute(RESTOCK, { id: MICROPHONE, quantity: 5 }, 'alice');
    expect(asCustomer.errors?.[0]?.extensions?.['code']).toBe('FORBIDDEN');
    const anonymous = await subgraph.execute(RESTOCK, { id: MICROPHONE, quantity: 5 });
    expect(anonymous.errors?.[0]?.extensions?.['code']).toBe('UNAUTHENTICATED');
    expect(await stockOf(MICROPHONE)).toBe(before);
  });

  it('rejects a quantity below one with BAD_USER_INPUT and changes nothing', async () => {
    const before = await stockOf(MICROPHONE);
    const { errors } = await subgraph.execute(RESTOCK, { id: MICROPHONE, quantity: -3 }, 'admin');
    expect(errors?.[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
    expect(await stockOf(MICROPHONE)).toBe(before);
  });

  it('answers NOT_FOUND when restocking an unknown product', async () => {
    const { errors } = await subgraph.execute(RESTOCK, { id: UNKNOWN, quantity: 1 }, 'admin');
    expect(errors?.[0]?.extensions?.['code']).toBe('NOT_FOUND');
  });

  describe('with an idempotency key', () => {
    const KEYED = 'mutation($id: ID!, $quantity: Int!, $key: String) { restockProduct(id: $id, quantity: $quantity, idempotencyKey: $key) { id stock } }';
    const key = () => `restock-${randomUUID()}`;

    it('adds the stock once however often the restock is sent, one after another or at once', async () => {
      const before = (await stockOf(KEYBOARD)) ?? 0;
      const resent = key();
      const first = await subgraph.execute<{ restockProduct: ProductView }>(KEYED, { id: KEYBOARD, quantity: 3, key: resent }, 'admin');
      expect(first.errors).toBeUndefined();
      expect(first.data?.restockProduct.stock).toBe(before + 3);
      const again = await subgraph.execute<{ restockProduct: ProductView }>(KEYED, { id: KEYBOARD, quantity: 3, key: resent }, 'admin');
      expect(again.errors).toBeUndefined();
      expect(again.data?.restockProduct.stock).toBe(before + 3);

      const together = key();
      const answers = await Promise.all(Array.from({ length: 6 }, () => subgraph.execute<{ restockProduct: ProductView }>(KEYED, { id: KEYBOARD, quantity: 2, key: together }, 'admin')));
      expect(answers.flatMap((answer) => answer.errors ?? [])).toEqual([]);
      expect(await stockOf(KEYBOARD)).toBe(before + 5);
    });

    it('refuses the key with another product or quantity as IDEMPOTENCY_KEY_REUSED and changes nothing', async () => {
      const used = key();
      await subgraph.execute(KEYED, { id: MICROPHONE, quantity: 1, key: used }, 'admin');
      const [microphone, keyboard] = [await stockOf(MICROPHONE), await stockOf(KEYBOARD)];
      for (const other of [{ id: MICROPHONE, quantity: 2 }, { id: KEYBOARD, quantity: 1 }]) {
        const { errors } = await subgraph.execute(KEYED, { ...other, key: used }, 'admin');
        expect(errors?.[0]?.extensions?.['code']).toBe('IDEMPOTENCY_KEY_REUSED');
      }
      expect([await stockOf(MICROPHONE), await stockOf(KEYBOARD)]).toEqual([microphone, keyboard]);
    });

    it('keeps no key from a refused restock, and refuses a malformed key with BAD_USER_INPUT', async () => {
      const refused = key();
      expect((await subgraph.execute(KEYED, { id: UNKNOWN, quantity: 1, key: refused }, 'admin')).errors?.[0]?.extensions?.['code']).toBe('NOT_FOUND');
      const before = (await stockOf(MICROPHONE)) ?? 0;
      const { data } = await subgraph.execute<{ restockProduct: ProductView }>(KEYED, { id: MICROPHONE, quantity: 1, key: refused }, 'admin');
      expect(data?.restockProduct.stock).toBe(before + 1);

      const { errors } = await subgraph.execute(KEYED, { id: MICROPHONE, quantity: 1, key: 'no spaces allowed' }, 'admin');
      expect(errors?.[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
      expect(await stockOf(MICROPHONE)).toBe(before + 1);
    });
  });
});

describe('over HTTP', () => {
  it('refuses a request with an invalid bearer token or a malformed Authorization header with 401 and UNAUTHENTICATED', async () => {
    for (const authorization of ['Bearer not.a.jwt', 'Basic YWxpY2U6c2VjcmV0']) {
      const response = await fetch(subgraph.service.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization },
        body: JSON.stringify({ query: '{ products { totalCount } }' }),
      });
      expect(response.status).toBe(401);
      const body = (await response.json()) as { errors: { extensions: { code: string } }[] };
      expect(body.errors[0]?.extensions.code).toBe('UNAUTHENTICATED');
    }
  });

  it('refuses a request without a bearer token with 401, for the catalog and for entities alike', async () => {
    const ENTITIES = 'query($representations: [_Any!]!) { _entities(representations: $representations) { ... on Product { name } } }';
    for (const request of [subgraph.post('{ products { totalCount } }'), subgraph.post(ENTITIES, { variables: { representations: [{ __typename: 'Product', id: KEYBOARD }] } })]) {
      const response = await request;
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer');
      expect(response.errors?.[0]?.extensions?.['code']).toBe('UNAUTHENTICATED');
      expect(response.data ?? null).toBeNull();
    }
  });

  it("treats the gateway's role-less service token as an anonymous caller: catalog and entities yes, restocking no", async () => {
    const token = await subgraph.issuer.serviceToken();
    const catalog = await subgraph.post<{ products: { totalCount: number } }>('{ products { totalCount } }', { token });
    expect(catalog.data?.products.totalCount).toBe(20);
    const entities = await subgraph.post<{ _entities: { name: string }[] }>(
      'query($representations: [_Any!]!) { _entities(representations: $representations) { ... on Product { name } } }',
      { token, variables: { representations: [{ __typename: 'Product', id: KEYBOARD }] } },
    );
    expect(entities.data?._entities[0]?.name).toBe('Mechanical keyboard');
    const restock = await subgraph.post(`mutation { restockProduct(id: "${MICROPHONE}", quantity: 1) { stock } }`, { token });
    expect(restock.errors?.[0]?.extensions?.['code']).toBe('UNAUTHENTICATED');
  });

  it('reports ready when its database answers', async () => {
    const response = await fetch(new URL('/health/ready', subgraph.service.url));
    expect(response.status).toBe(200);
  });
});
