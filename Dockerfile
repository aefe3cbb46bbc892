# One image for every Agora app; the compose service chooses the app with its working directory.
# Multi-stage: dependencies are installed in a builder, the runtime stage runs as a non-root user.
FROM node:24-slim AS deps
WORKDIR /app
RUN npm install --global pnpm@10.34.9
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml .npmrc ./
COPY gateway/package.json gateway/
COPY subgraphs/users/package.json subgraphs/users/
COPY subgraphs/inventory/package.json subgraphs/inventory/
COPY subgraphs/orders/package.json subgraphs/orders/
COPY subgraphs/payments/package.json subgraphs/payments/
COPY packages/service/package.json packages/service/
COPY packages/auth/package.json packages/auth/
COPY packages/testing/package.json packages/testing/
COPY packages/launcher/package.json packages/launcher/
COPY keycloak/package.json keycloak/
RUN pnpm install --frozen-lockfile --prod --ignore-scripts

FROM node:24-slim
ENV NODE_ENV=production HOST=0.0.0.0
WORKDIR /app
COPY --from=deps --chown=node:node /app ./
COPY --chown=node:node . .
USER node
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||4000)+'/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "src/index.ts"]
