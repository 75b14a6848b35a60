#!/usr/bin/env bash
# The main job: the headless example on the embedded defaults (SQLite, offline demo provider unless a
# provider key such as OPENAI_API_KEY is set). Extra arguments go to the example (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh
exec cargo run --locked --example headless -- "$@"
