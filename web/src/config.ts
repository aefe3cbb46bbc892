/** What the gateway tells the app at start (gateway/src/web-app.ts). */
export interface WebConfig {
  issuer: string;
  clientId: string;
  graphqlPath: string;
  healthPath: string;
}

export async function loadConfig(): Promise<WebConfig> {
  const response = await fetch(`${import.meta.env.BASE_URL}config.json`, { cache: 'no-store' });
  if (!response.ok) throw new Error(`The shop's configuration could not be loaded (HTTP ${response.status}).`);
  return (await response.json()) as WebConfig;
}
