#!/usr/bin/env bash
# The one test command: on a fresh Linux machine with Node.js >= 20.19 and
# npm, installs what the tests need (scripts/setup.sh: system tools when root,
# pnpm through npm, the locked dependencies, the build) and runs lint,
# typecheck and every test.
#   bash scripts/test.sh            everything
#   bash scripts/test.sh hbone      only test files whose path contains "hbone"
set -euo pipefail
source "$(dirname "$0")/setup.sh"
pnpm run lint
node scripts/run-tests.mjs "$@"
