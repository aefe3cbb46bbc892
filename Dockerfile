# syntax=docker/dockerfile:1
# One image for every app of dapr/dapr.yaml (gateway and the four subgraphs). A container picks its
# app by working directory (/app/gateway, /app/subgraphs/<name>) and runs `node src/index.ts`, as
# docker-compose.yml and deploy/k8s do. Node runs the TypeScript sources directly (ADR 0002), so
# there is no build step: the builder stage only installs production dependencies.
# deploy/test/dockerfile.test.ts keeps the versions and the app list in line with the repository.
ARG NODE_VERSION=24.21.0

FROM node:${NODE_VERSION}-bookworm-slim AS deps
ARG PNPM_VERSION=10.34.9
RUN npm install --global --no-audit --no-fund "pnpm@${PNPM_VERSION}"
WORKDIR /app
# Packages are fetched from the lockfile alone, so this layer is reused until the lockfile changes.
COPY pnpm-lock.yaml pnpm-workspace.yaml .npmrc ./
# pnpm-workspace.yaml names patched dependencies (@dapr/dapr); their patches come with it.
COPY patches ./patches
RUN pnpm fetch --prod
COPY . .
RUN pnpm install --offline --frozen-lockfile --prod \
      --filter "@agora/gateway..." \
      --filter "@agora/users..." \
      --filter "@agora/inventory..." \
      --filter "@agora/orders..." \
      --filter "@agora/payments..."

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
# A smaller young generation, as in dapr/dapr.yaml (docs/adr/0019-saga-throughput-and-memory.md).
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    NODE_OPTIONS=--max-semi-space-size=16
WORKDIR /app
# Owned by root and read-only to the app's user: the apps write nothing to their own tree.
COPY --from=deps /app /app
USER node
EXPOSE 4000 4001 4002 4003 4004
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "/app/deploy/docker/healthcheck.ts"]
CMD ["node", "src/index.ts"]
