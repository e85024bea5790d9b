# syntax=docker/dockerfile:1
# The Castle node image: `castle` is the entrypoint, so `docker run IMAGE server start ...`,
# `docker run IMAGE produce --topic t` and the Helm chart's /etc/castle/castle-node.sh all use it.
# Build and push: see README.md, "Container image".

ARG NODE_IMAGE=node:20-bookworm-slim

# 1. Compile the workspaces (TypeScript project references).
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.base.json tsconfig.json ./
COPY packages/common/package.json packages/common/
COPY packages/protocol/package.json packages/protocol/
COPY packages/raft/package.json packages/raft/
COPY packages/metadata/package.json packages/metadata/
COPY packages/storage/package.json packages/storage/
COPY packages/broker/package.json packages/broker/
COPY packages/client/package.json packages/client/
COPY packages/cli/package.json packages/cli/
COPY packages/testkit/package.json packages/testkit/
RUN npm ci --no-audit --no-fund
COPY packages packages
COPY proto proto
RUN npm run build \
 && mkdir -p /out \
 && for p in packages/*; do mkdir -p "/out/$p" && cp -r "$p/package.json" "$p/dist" "/out/$p/"; done

# 2. Production dependencies only, from the same lock file (classic-level and @node-rs/crc32
#    load the prebuilt binaries their packages ship; nothing compiles here).
FROM ${NODE_IMAGE} AS deps
WORKDIR /src
COPY package.json package-lock.json ./
COPY --from=build /out/packages packages
COPY packages/testkit/package.json packages/testkit/
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# 3. Runtime: Node.js, the compiled packages, proto/ (loaded at run time) and nothing else.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /opt/castle
COPY --from=deps /src/package.json ./
COPY --from=deps /src/node_modules node_modules
# Every workspace but testkit (tests only; its node_modules link is left dangling).
COPY --from=build /out/packages packages
RUN rm -rf packages/testkit node_modules/@castle/testkit
COPY proto proto
RUN groupadd --gid 10001 castle \
 && useradd --uid 10001 --gid castle --home-dir /var/lib/castle --no-create-home --shell /usr/sbin/nologin castle \
 && mkdir -p /var/lib/castle \
 && chown castle:castle /var/lib/castle \
 && chmod 0755 packages/cli/dist/main.js \
 && ln -s /opt/castle/packages/cli/dist/main.js /usr/local/bin/castle
USER 10001:10001
# client (gRPC), controller (Raft + registration), http (/metrics, /healthz, /readyz)
EXPOSE 9092 9093 9644
ENTRYPOINT ["castle"]
# A single node by default; the chart runs /etc/castle/castle-node.sh instead.
CMD ["server", "start", "--data-dir", "/var/lib/castle/data"]
