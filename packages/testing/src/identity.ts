import { createClientCredentialsTokenSource } from '@agora/auth';
import { passwordGrant, startOidcProvider } from '@agora/keycloak';

export type DevUser = 'alice' | 'bob' | 'admin';

export const devUserIds: Record<DevUser, string> = {
  alice: '5a1f0c1e-0000-4000-8000-000000000001',
  bob: '5a1f0c1e-0000-4000-8000-000000000002',
  admin: '5a1f0c1e-0000-4000-8000-000000000003',
};

/** The realm's confidential client whose service account has no roles: the gateway's identity for anonymous callers. */
export const anonymousClient = { clientId: 'agora-gateway-anonymous', clientSecret: 'agora-gateway-anonymous-dev-secret' } as const;

export interface TestIssuer {
  issuer: string;
  /** A real access token for a dev user from the realm export, by password grant; one per user, reused. */
  tokenFor(user: DevUser): Promise<string>;
  /** A real role-less service token (client credentials of `anonymousClient`), as the gateway sends for anonymous callers. */
  serviceToken(): Promise<string>;
  /** Signs new tokens with a new key; the previous key stays published. */
  rotateKeys(): Promise<void>;
  close(): Promise<void>;
}

/** The local OIDC provider on a free port, serving keycloak/agora-realm.json. */
export async function startTestIssuer(): Promise<TestIssuer> {
  const provider = await startOidcProvider({ port: 0 });
  const tokens = new Map<DevUser, Promise<string>>();
  const service = createClientCredentialsTokenSource({ issuer: provider.issuer, ...anonymousClient });
  return {
    issuer: provider.issuer,
    tokenFor(user) {
      let token = tokens.get(user);
      if (!token) {
        token = passwordGrant({ issuer: provider.issuer, clientId: 'agora-cli', username: user, password: `${user}-dev-password` }).then((t) => t.accessToken);
        tokens.set(user, token);
      }
      return token;
    },
    serviceToken: () => service.token(),
    rotateKeys: () => provider.rotateKeys(),
    close: () => provider.close(),
  };
}
