import { ApolloProvider } from '@apollo/client/react';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { createApolloClient } from './apollo.ts';
import { App } from './app.tsx';
import { createUserManager, SessionProvider } from './auth.tsx';
import { loadConfig } from './config.ts';
import { ConfigContext } from './config-context.tsx';
import './styles.css';

const root = createRoot(document.getElementById('root') ?? document.body);

try {
  const config = await loadConfig();
  const manager = createUserManager(config);
  const client = createApolloClient(config, manager);
  root.render(
    <StrictMode>
      <ConfigContext value={{ config, manager }}>
        <SessionProvider manager={manager}>
          <ApolloProvider client={client}>
            <App />
          </ApolloProvider>
        </SessionProvider>
      </ConfigContext>
    </StrictMode>,
  );
} catch (error) {
  root.render(
    <main>
      <h1>Agora is not available</h1>
      <p role="alert">{error instanceof Error ? error.message : String(error)} Try again in a moment.</p>
    </main>,
  );
}
