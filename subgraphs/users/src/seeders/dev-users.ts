// The dev users of keycloak/agora-realm.json; ids are their `sub` there.
export const devUsers = [
  { id: '5a1f0c1e-0000-4000-8000-000000000001', username: 'alice', email: 'alice@agora.test', firstName: 'Alice', lastName: 'Martin' },
  { id: '5a1f0c1e-0000-4000-8000-000000000002', username: 'bob', email: 'bob@agora.test', firstName: 'Bob', lastName: 'Okafor' },
  { id: '5a1f0c1e-0000-4000-8000-000000000003', username: 'admin', email: 'admin@agora.test', firstName: 'Ada', lastName: 'Admin' },
];
