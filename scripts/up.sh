#!/usr/bin/env bash
# The local mesh demo from a fresh Linux machine with Node.js >= 20.19 and
# npm. As root: installs everything (scripts/setup.sh), puts `ambit` on the
# PATH (/usr/local/bin/ambit) and runs `ambit up` (arguments are passed on,
# e.g. --nodes 3). Without root: the same in the loopback mode (`ambit up
# --loopback`: no network namespaces, no capture), with `ambit` linked into
# ~/.local/bin.
set -euo pipefail
source "$(dirname "$0")/setup.sh"
chmod +x packages/cli/dist/bin/ambit.js
if [ "$(id -u)" = 0 ]; then
  ln -sf "$PWD/packages/cli/dist/bin/ambit.js" /usr/local/bin/ambit
  exec ambit up "$@"
fi
echo "scripts/up.sh: not root, so the mesh runs in the loopback mode (ambit up --loopback); as root it would build network namespaces with transparent capture" >&2
mkdir -p "$HOME/.local/bin"
ln -sf "$PWD/packages/cli/dist/bin/ambit.js" "$HOME/.local/bin/ambit"
case ":$PATH:" in
  *":$HOME/.local/bin:"*) ;;
  *) echo "scripts/up.sh: add ~/.local/bin to your PATH to type \`ambit\` (export PATH=\"\$HOME/.local/bin:\$PATH\")" >&2 ;;
esac
exec "$HOME/.local/bin/ambit" up --loopback "$@"
