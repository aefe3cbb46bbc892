import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devUserIds, startTestSubgraph, type TestSubgraph } from '@agora/testing';
import type { Context } from '../src/context.ts';
import { User } from '../src/modules/user/user.entity.ts';
import { usersSubgraph } from '../src/subgraph.ts';

let subgraph: TestSubgraph<Context>;
beforeAll(async () => {
  subgraph = await startTestSubgraph(usersSubgraph);
});
afterAll(() => subgraph?.close());

const ME = '{ me { id username email firstName lastName displayName createdAt } }';

describe('me', () => {
  it("returns the signed-in user's seeded profile", async () => {
    const { data, errors } = await subgraph.execute<{ me: Record<string, string> }>(ME, undefined, 'alice');
    expect(errors).toBeUndefined();
    expect(data?.me).toMatchObject({ id: devUserIds.alice, username: 'alice', email: 'alice@agora.test', displayName: 'Alice Martin' });
    expect(Number.isNaN(Date.parse(data?.me['createdAt'] ?? ''))).toBe(false);
  });

  it('creates the user from the token claims the first time they are seen', async () => {
    await subgraph.service.orm.em.fork().nativeDelete(User, { id: devUserIds.bob });
    const { data, errors } = await subgraph.execute<{ me: Record<string, string> }>(ME, undefined, 'bob');
    expect(errors).toBeUndefined();
    expect(data?.me).toMatchObject({ id: devUserIds.bob, username: 'bob', email: 'bob@agora.test', firstName: 'Bob', lastName: 'Okafor' });
    expect(await subgraph.service.orm.em.fork().count(User, { id: devUserIds.bob })).toBe(1);
  });

  it('refuses anonymous callers with UNAUTHENTICATED', async () => {
    const { errors } = await subgraph.execute(ME);
    expect(errors?.[0]?.extensions?.['code']).toBe('UNAUTHENTICATED');
  });
});

describe('user(id)', () => {
  const USER = 'query($id: ID!) { user(id: $id) { id username } }';

  it('lets an admin read any user', async () => {
    const { data } = await subgraph.execute<{ user: { username: string } }>(USER, { id: devUserIds.alice }, 'admin');
    expect(data?.user.username).toBe('alice');
  });

  it('refuses customers with FORBIDDEN', async () => {
    const { errors } = await subgraph.execute(USER, { id: devUserIds.bob }, 'alice');
    expect(errors?.[0]?.extensions?.['code']).toBe('FORBIDDEN');
  });

  it('answers NOT_FOUND for an unknown id', async () => {
    const { errors } = await subgraph.execute(USER, { id: 'no-such-user' }, 'admin');
    expect(errors?.[0]?.extensions?.['code']).toBe('NOT_FOUND');
  });
});

describe('User references', () => {
  const ENTITIES = 'query($representations: [_Any!]!) { _entities(representations: $representations) { ... on User { id username } } }';

  it('resolves the caller themself', async () => {
    const { data, errors } = await subgraph.execute<{ _entities: { username: string }[] }>(ENTITIES, { representations: [{ __typename: 'User', id: devUserIds.alice }] }, 'alice');
    expect(errors).toBeUndefined();
    expect(data?._entities[0]?.username).toBe('alice');
  });

  it("refuses to resolve another customer's profile", async () => {
    const { errors } = await subgraph.execute(ENTITIES, { representations: [{ __typename: 'User', id: devUserIds.bob }] }, 'alice');
    expect(errors?.[0]?.extensions?.['code']).toBe('FORBIDDEN');
  });

  it('refuses profiles to anonymous callers, who arrive with the role-less service token', async () => {
    const { data, errors } = await subgraph.execute<{ _entities: unknown[] }>(ENTITIES, { representations: [{ __typename: 'User', id: devUserIds.bob }] });
    expect(errors?.[0]?.extensions?.['code']).toBe('UNAUTHENTICATED');
    expect(data?._entities[0] ?? null).toBeNull();
  });
});
