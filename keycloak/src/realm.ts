import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

export const bundledRealmFile = fileURLToPath(new URL('../agora-realm.json', import.meta.url));

const AUDIENCE_MAPPER = 'oidc-audience-mapper';

const protocolMapperSchema = z.object({
  name: z.string().min(1),
  protocol: z.string().optional(),
  protocolMapper: z.string().min(1),
  config: z.record(z.string(), z.string()).default({}),
});

const clientSchema = z
  .object({
    clientId: z.string().min(1),
    name: z.string().optional(),
    enabled: z.boolean().default(true),
    bearerOnly: z.boolean().default(false),
    publicClient: z.boolean().default(false),
    secret: z.string().min(1).optional(),
    standardFlowEnabled: z.boolean().default(true),
    directAccessGrantsEnabled: z.boolean().default(false),
    serviceAccountsEnabled: z.boolean().default(false),
    redirectUris: z.array(z.string().min(1)).default([]),
    webOrigins: z.array(z.string().min(1)).default([]),
    attributes: z.record(z.string(), z.string()).default({}),
    protocolMappers: z.array(protocolMapperSchema).default([]),
  })
  .superRefine((client, ctx) => {
    const issuesTokens = client.enabled && !client.bearerOnly;
    if (issuesTokens && !client.publicClient && client.secret === undefined) {
      ctx.addIssue({ code: 'custom', path: ['secret'], message: 'confidential clients need a secret' });
    }
    if (client.serviceAccountsEnabled && client.publicClient) {
      ctx.addIssue({ code: 'custom', path: ['serviceAccountsEnabled'], message: 'public clients cannot have service accounts' });
    }
    client.protocolMappers.forEach((mapper, index) => {
      if (mapper.protocolMapper === AUDIENCE_MAPPER && !mapper.config['included.client.audience']) {
        ctx.addIssue({
          code: 'custom',
          path: ['protocolMappers', index, 'config', 'included.client.audience'],
          message: 'audience mappers need a client audience',
        });
      }
    });
  });

const credentialSchema = z
  .object({
    type: z.string().min(1),
    value: z.string().min(1).optional(),
    temporary: z.boolean().default(false),
  })
  .superRefine((credential, ctx) => {
    if (credential.type === 'password' && credential.value === undefined) {
      // Hashed credentials from a live export cannot be verified here, so say so rather than reject logins silently.
      ctx.addIssue({ code: 'custom', path: ['value'], message: 'password credentials need a plain-text value' });
    }
  });

const userSchema = z.object({
  id: z.string().min(1),
  username: z.string().min(1),
  email: z.string().min(1).optional(),
  emailVerified: z.boolean().default(false),
  firstName: z.string().optional(),
  lastName: z.string().optional(),
  enabled: z.boolean().default(true),
  credentials: z.array(credentialSchema).default([]),
  realmRoles: z.array(z.string().min(1)).default([]),
  serviceAccountClientId: z.string().min(1).optional(),
});

const realmSchema = z
  .object({
    realm: z.string().regex(/^[A-Za-z0-9._-]+$/, 'must be a URL-safe realm name'),
    displayName: z.string().min(1).optional(),
    accessTokenLifespan: z.number().int().positive().default(300),
    ssoSessionIdleTimeout: z.number().int().positive().default(1800),
    ssoSessionMaxLifespan: z.number().int().positive().default(36000),
    loginWithEmailAllowed: z.boolean().default(true),
    roles: z
      .object({ realm: z.array(z.object({ name: z.string().min(1), description: z.string().optional() })).default([]) })
      .default({ realm: [] }),
    clients: z.array(clientSchema).default([]),
    users: z.array(userSchema).default([]),
  })
  .superRefine((realm, ctx) => {
    reportDuplicates(ctx, realm.clients.map((client) => client.clientId), 'clients', 'clientId');
    reportDuplicates(ctx, realm.users.map((user) => user.id), 'users', 'id');
    reportDuplicates(ctx, realm.users.map((user) => user.username.toLowerCase()), 'users', 'username');
    const roles = new Set(realm.roles.realm.map((role) => role.name));
    const clientIds = new Set(realm.clients.map((client) => client.clientId));
    realm.users.forEach((user, userIndex) => {
      user.realmRoles.forEach((role, roleIndex) => {
        if (!roles.has(role)) {
          ctx.addIssue({ code: 'custom', path: ['users', userIndex, 'realmRoles', roleIndex], message: `unknown realm role "${role}"` });
        }
      });
      if (user.serviceAccountClientId !== undefined && !clientIds.has(user.serviceAccountClientId)) {
        ctx.addIssue({ code: 'custom', path: ['users', userIndex, 'serviceAccountClientId'], message: `unknown client "${user.serviceAccountClientId}"` });
      }
    });
    realm.clients.forEach((client, clientIndex) => {
      client.protocolMappers.forEach((mapper, mapperIndex) => {
        const audience = mapper.config['included.client.audience'];
        if (mapper.protocolMapper === AUDIENCE_MAPPER && audience !== undefined && !clientIds.has(audience)) {
          ctx.addIssue({
            code: 'custom',
            path: ['clients', clientIndex, 'protocolMappers', mapperIndex, 'config', 'included.client.audience'],
            message: `unknown client "${audience}"`,
          });
        }
      });
    });
  });

export type RealmClient = z.infer<typeof clientSchema>;
export type RealmUser = z.infer<typeof userSchema>;
export type RealmExport = z.infer<typeof realmSchema>;

export interface Realm {
  readonly name: string;
  readonly displayName: string;
  readonly accessTokenLifespan: number;
  readonly ssoSessionIdleTimeout: number;
  readonly ssoSessionMaxLifespan: number;
  readonly loginWithEmailAllowed: boolean;
  readonly clients: readonly RealmClient[];
  readonly users: readonly RealmUser[];
  client(clientId: string): RealmClient | undefined;
  user(id: string): RealmUser | undefined;
  userByLogin(login: string): RealmUser | undefined;
  serviceAccount(clientId: string): RealmUser | undefined;
}

function reportDuplicates(ctx: z.RefinementCtx, values: readonly string[], collection: string, field: string): void {
  const seen = new Set<string>();
  values.forEach((value, index) => {
    if (seen.has(value)) {
      ctx.addIssue({ code: 'custom', path: [collection, index, field], message: `duplicate ${field} "${value}"` });
    }
    seen.add(value);
  });
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, key) => {
    if (typeof key === 'number') return `${out}[${key}]`;
    const name = String(key);
    const plain = /^[A-Za-z_$][\w$]*$/.test(name);
    if (!plain) return `${out}[${JSON.stringify(name)}]`;
    return out === '' ? name : `${out}.${name}`;
  }, '');
}

export class RealmFileError extends Error {
  override readonly name = 'RealmFileError';
}

export function parseRealm(input: unknown, source = 'realm export'): Realm {
  const parsed = realmSchema.safeParse(input);
  if (!parsed.success) {
    const details = parsed.error.issues.map((issue) => `${formatPath(issue.path) || '(root)'}: ${issue.message}`);
    throw new RealmFileError(`invalid ${source}: ${details.join('; ')}`);
  }
  return toRealm(parsed.data);
}

export async function loadRealm(file: string = bundledRealmFile): Promise<Realm> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new RealmFileError(`cannot read realm file ${file}: ${reason}`, { cause });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new RealmFileError(`realm file ${file} is not valid JSON`, { cause });
  }
  return parseRealm(json, `realm file ${file}`);
}

function toRealm(data: RealmExport): Realm {
  const clients = new Map(data.clients.map((client) => [client.clientId, client]));
  const users = new Map(data.users.map((user) => [user.id, user]));
  const loginUsers = data.users.filter((user) => user.serviceAccountClientId === undefined);
  return {
    name: data.realm,
    displayName: data.displayName ?? data.realm,
    accessTokenLifespan: data.accessTokenLifespan,
    ssoSessionIdleTimeout: data.ssoSessionIdleTimeout,
    ssoSessionMaxLifespan: data.ssoSessionMaxLifespan,
    loginWithEmailAllowed: data.loginWithEmailAllowed,
    clients: data.clients,
    users: data.users,
    client: (clientId) => clients.get(clientId),
    user: (id) => users.get(id),
    // Keycloak stores usernames lower-cased, so logins are case-insensitive.
    userByLogin: (login) => {
      const wanted = login.toLowerCase();
      return (
        loginUsers.find((user) => user.username.toLowerCase() === wanted) ??
        (data.loginWithEmailAllowed ? loginUsers.find((user) => user.email?.toLowerCase() === wanted) : undefined)
      );
    },
    serviceAccount: (clientId) => data.users.find((user) => user.serviceAccountClientId === clientId),
  };
}

export function audiencesOf(client: RealmClient): string[] {
  const audiences = client.protocolMappers
    .filter((mapper) => mapper.protocolMapper === AUDIENCE_MAPPER && mapper.config['access.token.claim'] !== 'false')
    .map((mapper) => mapper.config['included.client.audience'])
    .filter((audience): audience is string => audience !== undefined);
  return [...new Set(audiences)];
}

export function passwordOf(user: RealmUser): string | undefined {
  return user.credentials.find((credential) => credential.type === 'password')?.value;
}
