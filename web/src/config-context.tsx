import type { UserManager } from 'oidc-client-ts';
import { createContext, useContext } from 'react';
import type { WebConfig } from './config.ts';

export interface AppServices {
  config: WebConfig;
  manager: UserManager;
}

export const ConfigContext = createContext<AppServices | undefined>(undefined);

export function useConfig(): AppServices {
  const services = useContext(ConfigContext);
  if (!services) throw new Error('useConfig outside ConfigContext');
  return services;
}
