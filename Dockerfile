# syntax=docker/dockerfile:1
# The CASPIAN hub. Build stage: every dependency, the TypeScript compiled to dist/, then the dev
# dependencies dropped. Runtime stage: Node.js, dist/ and the production dependencies only, run as the
# unprivileged `node` user, the SQLite store on the /data volume. Build and run:
#   docker build -t caspian-hub . && docker run --init -p 8080:8080 -v caspian-data:/data caspian-hub
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
# better-sqlite3 is native: where no prebuilt binary fits the platform it compiles, with these.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# Install scripts off for the whole tree (the root's `prepare` would build before the sources are here),
# then only better-sqlite3's: the one install script the project approves (package.json `allowScripts`).
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && npm rebuild better-sqlite3
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund
# Of better-sqlite3's build, the runtime loads only the addon: its sources and objects are ~30 MB.
RUN cd node_modules/better-sqlite3 \
 && mv build/Release/better_sqlite3.node /tmp/ \
 && rm -rf build deps src \
 && mkdir -p build/Release \
 && mv /tmp/better_sqlite3.node build/Release/

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    CASPIAN_HOST=0.0.0.0 \
    CASPIAN_PORT=8080 \
    CASPIAN_DATA_DIR=/data
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Owned by `node` before VOLUME, so that a new volume starts with that owner.
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
USER node
EXPOSE 8080
# The hub's liveness probe (GET /health). Slim images have no curl: Node's fetch asks instead.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.CASPIAN_PORT || 8080) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/cli/main.js", "serve"]
