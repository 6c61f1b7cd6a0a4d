# syntax=docker/dockerfile:1
# flyte-secrets image: the webhook server and the CLI (`certs init`, `register`, `serve`, …).
#
#   docker build -t <registry>/flyte-secrets:0.1.0 .
#
# Not built or run in this project's CI (no Docker engine there); deploy/ and test/deploy.test.ts check the
# manifests that use it. See docs/operations.md. Pin the base images by digest in your own builds.

ARG NODE_IMAGE=node:24-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot

# --- build: compile TypeScript to dist/ ---------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` runs `npm run build`, and the sources are not copied yet.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/bundle-agent.mjs ./scripts/
COPY src ./src
# tsc, then the one-file bundle of the in-pod agent (dist/agent.bundle.mjs; see docs/operations.md).
RUN npm run build

# --- deps: production dependencies only ---------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: no `prepare` (it would try to compile), and no dependency needs an install script at runtime.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# --- runtime: distroless Node 24, no shell, non-root (uid/gid 65532) ----------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps --chown=0:0 /app/node_modules ./node_modules
COPY --chown=0:0 package.json ./
COPY --chown=0:0 bin ./bin
COPY --from=build --chown=0:0 /src/dist ./dist
# Files are owned by root and read-only for the process; it runs as 65532 (matches runAsUser in deploy/base).
USER 65532:65532
EXPOSE 9443 9444
ENTRYPOINT ["/nodejs/bin/node", "bin/flyte-secrets.js"]
CMD ["serve", "--config", "/etc/flyte-secrets/config.yaml"]
