/** The realm's service client: its service account holds `admin`, as the saga's calls do (docs/adr/0007). */
export const SERVICE_CLIENT = { clientId: 'agora-service', clientSecret: 'agora-service-dev-secret' } as const;
