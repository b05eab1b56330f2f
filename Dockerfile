# syntax=docker/dockerfile:1
# One image, three entry points: ambit-control-plane, ambit-ztunnel and
# ambit-waypoint (the default command; the waypoint Deployments the control
# plane renders name it too). One image because the three share
# one pnpm workspace and most of their code (core, api, identity, hbone,
# cp-client): one build, one version to roll out, and the waypoint image the
# control plane is told to use is the one it runs itself. The cost is that
# every component carries the ztunnel's needs: nftables and iproute2 (the
# ztunnel programs capture with the nft and ip commands) and the sockopt
# native addon (IP_TRANSPARENT).
#
# The image runs as uid 1000 (the node image's `node` user). The control
# plane and the waypoints run as that user; the ztunnel DaemonSet overrides it
# with uid 0 and every capability dropped but NET_ADMIN (deploy/ztunnel.yaml
# says why).
#
#   docker build -t ghcr.io/ambit-mesh/ambit:0.1.0 .

ARG NODE_IMAGE=node:22.12.0-bookworm-slim

FROM ${NODE_IMAGE} AS build
# node-gyp compiles sockopt (its published linux prebuild is not usable),
# against this image's own Node headers rather than downloaded ones.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
ENV npm_config_nodedir=/usr/local
RUN npm install -g pnpm@10.34.9
WORKDIR /app
# Dependencies first, from the lockfile alone, so source changes reuse this layer.
COPY pnpm-lock.yaml pnpm-workspace.yaml package.json .npmrc ./
RUN pnpm fetch
COPY . .
RUN pnpm install --offline --frozen-lockfile \
  && pnpm exec tsc -b packages/control-plane packages/ztunnel packages/waypoint
# Keep only what runs: production dependencies of the three apps and the
# workspace packages they import, their compiled JavaScript, no tests.
RUN rm -rf node_modules packages/*/node_modules test/node_modules \
  && pnpm install --offline --frozen-lockfile --prod \
    --filter '@ambit/control-plane...' --filter '@ambit/ztunnel...' --filter '@ambit/waypoint...' \
  && rm -rf packages/cli packages/localcluster \
  && rm -rf packages/*/src packages/*/tsconfig*.json \
  && find packages -path '*/node_modules' -prune -o -type f \
    \( -name '*.test.js' -o -name '*.test.js.map' -o -name '*.test.d.ts' -o -name '*.tsbuildinfo' \) -print0 \
    | xargs -0 rm -f \
  && chmod +x packages/control-plane/dist/bin/control-plane.js packages/ztunnel/dist/bin/ztunnel.js \
    packages/waypoint/dist/bin/waypoint.js

FROM ${NODE_IMAGE} AS runtime
RUN apt-get update \
  && apt-get install -y --no-install-recommends nftables iproute2 \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/packages ./packages
RUN ln -s /app/packages/control-plane/dist/bin/control-plane.js /usr/local/bin/ambit-control-plane \
  && ln -s /app/packages/ztunnel/dist/bin/ztunnel.js /usr/local/bin/ambit-ztunnel \
  && ln -s /app/packages/waypoint/dist/bin/waypoint.js /usr/local/bin/ambit-waypoint
USER 1000:1000
# 15008 HBONE, 15012 discovery + CA, 15020 metrics, 15021 readiness.
EXPOSE 15008 15012 15020 15021
CMD ["ambit-waypoint"]
