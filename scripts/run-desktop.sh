#!/usr/bin/env bash
# Builds and opens the desktop example (examples/shannon-app): the UI bundle, then the app.
# Usage: scripts/run-desktop.sh [--release]   (data in the app's local data dir,
# ~/.local/share/dev.shannon.example-app; the offline demo provider answers until a key is added)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh --node
[[ -d node_modules ]] || npm ci --no-audit --no-fund
npm run --silent build:app
exec cargo run --locked -p shannon-app "$@"
