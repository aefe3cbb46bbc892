import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';

export const SIGNING_ALG = 'RS256';

export interface SigningKey {
  readonly kid: string;
  readonly privateJwk: JWK;
  readonly publicJwk: JWK;
}

export interface KeyRing {
  readonly current: SigningKey;
  readonly previous?: SigningKey;
}

export async function generateSigningKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(SIGNING_ALG, { modulusLength: 2048, extractable: true });
  const publicParts = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicParts);
  const shared = { kid, alg: SIGNING_ALG, use: 'sig' };
  return { kid, privateJwk: { ...(await exportJWK(privateKey)), ...shared }, publicJwk: { ...publicParts, ...shared } };
}

export async function createKeyRing(): Promise<KeyRing> {
  return { current: await generateSigningKey() };
}

// Only one previous key is kept: tokens outlive a single rotation, not two.
export async function rotateKeyRing(ring: KeyRing): Promise<KeyRing> {
  return { current: await generateSigningKey(), previous: ring.current };
}

export function ringKeys(ring: KeyRing): SigningKey[] {
  return ring.previous === undefined ? [ring.current] : [ring.current, ring.previous];
}
