#!/usr/bin/env bash
# Shared by scripts/test.sh and scripts/up.sh (sourced): on a fresh Linux
# machine with Node.js >= 20.19 and npm, installs what Ambit needs (system
# tools when root, pnpm through npm, the locked dependencies) and builds.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PNPM_VERSION=10.34.9

# System tools used by the suites (openssl in identity tests; iproute2,
# nftables, procps (sysctl: ztunnel allows non-local binds) and tcpdump for
# the netns suites; make/g++/python3 build the
# sockopt addon, whose published linux prebuild is not a Linux binary).
# Installed only when missing, only as root.
missing=()
command -v openssl >/dev/null || missing+=(openssl)
command -v ip >/dev/null || missing+=(iproute2)
command -v nft >/dev/null || missing+=(nftables)
command -v sysctl >/dev/null || missing+=(procps)
command -v tcpdump >/dev/null || missing+=(tcpdump)
command -v g++ >/dev/null || missing+=(g++)
command -v make >/dev/null || missing+=(make)
command -v python3 >/dev/null || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "warning: missing ${missing[*]}; suites that need them will be skipped or fail (install them, or run as root)" >&2
  fi
fi

if ! command -v pnpm >/dev/null || [ "$(pnpm --version)" != "$PNPM_VERSION" ]; then
  if [ "$(id -u)" = 0 ] || [ -w "$(npm prefix -g)/lib" ]; then
    echo "installing pnpm@$PNPM_VERSION with npm"
    npm install -g --silent "pnpm@$PNPM_VERSION"
  else
    # No write access to npm's global prefix (not root): run pnpm through npx instead.
    echo "using pnpm@$PNPM_VERSION through npx"
    pnpm() { npx -y "pnpm@$PNPM_VERSION" "$@"; }
  fi
fi

# sockopt is compiled by node-gyp, which must use this machine's Node headers (there is no internet for
# downloading them); npm's own config usually says so already.
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node.h ]; then export npm_config_nodedir=/usr; fi
pnpm install --frozen-lockfile --reporter=append-only
pnpm run build
