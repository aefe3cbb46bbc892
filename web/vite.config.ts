import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// Built for the gateway, which serves dist/ at /shop/ (gateway/src/web-app.ts). `pnpm dev` serves it
// on :5173 and sends GraphQL, its config and the health report to a gateway on :4000.
const gateway = process.env['AGORA_GATEWAY_URL'] ?? 'http://127.0.0.1:4000';

export default defineConfig({
  base: '/shop/',
  plugins: [react()],
  // React, React DOM, React Router and Apollo Client make one ~560 kB chunk (~170 kB gzipped).
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 800 },
  server: {
    port: 5173,
    proxy: { '/graphql': gateway, '/admin/health': gateway, '/shop/config.json': gateway },
  },
});
