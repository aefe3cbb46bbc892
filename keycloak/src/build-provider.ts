import { Provider } from 'oidc-provider';
import { CLIENT_CREDENTIALS_PARAMS, clientCredentialsGrantHandler, PASSWORD_PARAMS, passwordGrantHandler } from './grants.ts';
import { keycloakTokenResponse } from './token-response.ts';
import { providerConfiguration, type ProviderSettings } from './provider-config.ts';
import { useKeycloakRedirectRules } from './redirect-uris.ts';

export type { ProviderSettings } from './provider-config.ts';

/** Builds an oidc-provider instance serving the realm; rebuilt on key rotation, sharing the same store. */
export async function buildProvider(settings: ProviderSettings): Promise<Provider> {
  const provider = new Provider(settings.issuer, providerConfiguration(settings));
  const grantSettings = { realm: settings.realm, kid: settings.keys.current.kid };
  useKeycloakRedirectRules(provider, settings.realm);
  provider.registerGrantType('password', passwordGrantHandler(grantSettings), PASSWORD_PARAMS);
  provider.registerGrantType('client_credentials', clientCredentialsGrantHandler(grantSettings), CLIENT_CREDENTIALS_PARAMS);
  provider.use(keycloakTokenResponse);
  await validateClients(provider, settings);
  return provider;
}

// oidc-provider validates static clients lazily; surface a bad realm client at start-up instead of on first use.
async function validateClients(provider: Provider, settings: ProviderSettings): Promise<void> {
  const clients = settings.realm.clients.filter((client) => client.enabled && !client.bearerOnly);
  await Promise.all(clients.map((client) => provider.Client.find(client.clientId)));
}
