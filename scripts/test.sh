#!/usr/bin/env bash
# Every test: formatting, lints, Rust tests (core, MockRuntime IPC, HTTP, crash and secrets tests, the
# bindings and reference staleness checks, MCP against the npm reference server), the guest-js package
# (typecheck with its type-level tests, build, Vitest), the API references (rustdoc, TypeDoc), a fresh
# app built from the packed crate and npm tarball, the master key in a real Secret Service
# (scripts/keychain-test.sh), the openai, shannon-sdk, mcp and prometheus_client Python packages against
# the listener and shannon-sdk against the fake cloud, and the desktop example end to end in a real
# webview (scripts/e2e.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh --node

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --locked --all-targets -- -D warnings
# The npm packages first: the MCP tests run the reference server from node_modules.
echo "==> npm ci"
npm ci --no-audit --no-fund
echo "==> cargo test"
cargo test --locked
echo "==> guest-js (npm)"
npm run typecheck
npm run build
npm test

# In the background while the keychain and Python steps run (they mostly wait on servers): the API
# references and a fresh app from the packed packages. Both use target/; cargo takes turns on its lock.
packaging_log=target/packaging-checks.log
(
  echo "==> API references: rustdoc of the public facade (no missing docs) and TypeDoc of the npm package"
  RUSTDOCFLAGS="-D warnings -D missing_docs" cargo doc --locked --no-deps --lib
  npm run docs
  echo "==> a fresh Tauri app from the packed crate and npm tarball"
  scripts/fresh-app.sh
) >"$packaging_log" 2>&1 &
packaging=$!

echo "==> the master key in a real OS keychain (gnome-keyring on a private session bus)"
scripts/keychain-test.sh
# Benchmarks compile above (--all-targets) but are measured with `cargo bench`, never in tests.

echo "==> OpenAI and Shannon SDK Python clients against the listener"
scripts/openai-client-test.sh

echo "==> waiting for the API references and the fresh app"
if ! wait "$packaging"; then
  cat "$packaging_log" >&2
  echo "the packaging checks failed (log above)" >&2
  exit 1
fi
grep '^==>' "$packaging_log"

echo "==> end-to-end tests of the desktop example (WebKitGTK under Xvfb)"
scripts/e2e.sh
echo "==> all tests passed"
