export { startOidcProvider, type OidcProviderOptions, type RunningOidcProvider } from './provider.ts';
export { passwordGrant, OAuthError, type PasswordGrantRequest, type PasswordGrantTokens } from './token-client.ts';
export { bundledRealmFile, loadRealm, parseRealm, RealmFileError, type Realm, type RealmClient, type RealmUser } from './realm.ts';
