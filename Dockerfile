# syntax=docker/dockerfile:1
#
# The source-fal image for Airbyte (and any other runner of Airbyte-protocol connectors).
#
#   docker build -t sourcefal/source-fal:dev .
#   docker run --rm sourcefal/source-fal:dev spec
#
# Two stages on the official Node 24 LTS image (Debian bookworm, slim: glibc, so the prebuilt native bindings
# of @duckdb/node-api used by `sync` load as they are). The build stage compiles the TypeScript and prunes the
# dev dependencies; the runtime stage holds only the compiled connector, schemas/, package.json and the
# production node_modules, and runs as the unprivileged `node` user. Tests are not in the image; the fal emulator
# is (dist/source-fal/emulator, for `sync --demo`). scripts/image-check.sh builds and runs the image in CI.
# Pin a digest with --build-arg NODE_IMAGE=node:24-bookworm-slim@sha256:<digest> for reproducible builds.

ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts/ ./scripts/
COPY schemas/ ./schemas/
COPY dbt/ ./dbt/
COPY source-fal/ ./source-fal/
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /airbyte/integration_code
# schemas.ts finds schemas/ two levels above dist/source-fal/, and package.json next to schemas/.
COPY --from=build /build/package.json ./package.json
COPY --from=build /build/node_modules/ ./node_modules/
COPY --from=build /build/schemas/ ./schemas/
# sync renders the analytics views from the dbt package's models and macros.
COPY --from=build /build/dbt/ ./dbt/
COPY --from=build /build/dist/source-fal/ ./dist/source-fal/
# `sync` writes its DuckDB file to the working directory by default: /data, owned by the image's user. Mount a host
# directory there to keep it (docker run -v "$PWD/fal-data:/data" … sync). Airbyte's commands write nothing.
RUN mkdir -p /data && chown node:node /data
WORKDIR /data
# Node 24 grows the young generation up to 64 MB per semi-space; 16 MB keeps a 1M-event read's peak RSS well
# under 200 MB at a small CPU cost (docs/performance.md).
ENV NODE_OPTIONS="--max-semi-space-size=16"
USER node
# Airbyte wraps the entrypoint on Kubernetes; AIRBYTE_ENTRYPOINT must equal the ENTRYPOINT joined by spaces.
ENV AIRBYTE_ENTRYPOINT="node /airbyte/integration_code/dist/source-fal/main.js"
ENTRYPOINT ["node", "/airbyte/integration_code/dist/source-fal/main.js"]
LABEL io.airbyte.name="sourcefal/source-fal" \
      io.airbyte.version="0.4.1" \
      org.opencontainers.image.title="source-fal" \
      org.opencontainers.image.description="Airbyte source for fal.ai usage and cost data" \
      org.opencontainers.image.source="https://github.com/source-fal/source-fal" \
      org.opencontainers.image.licenses="MIT"
