#!/usr/bin/env bash
# The local mesh demo from a fresh Linux machine with Node.js >= 20.19 and
# npm, as root: installs everything (scripts/setup.sh), puts `ambit` on the
# PATH (/usr/local/bin/ambit) and runs `ambit up` (arguments are passed on,
# e.g. --nodes 3).
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
  echo "scripts/up.sh: the local mesh builds network namespaces and nftables rules; run it as root (sudo bash scripts/up.sh)" >&2
  exit 1
fi
source "$(dirname "$0")/setup.sh"
ln -sf "$PWD/packages/cli/dist/bin/ambit.js" /usr/local/bin/ambit
chmod +x packages/cli/dist/bin/ambit.js
exec ambit up "$@"
