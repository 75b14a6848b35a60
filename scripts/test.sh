#!/usr/bin/env bash
# Every test: formatting, lints, Rust tests (core, MockRuntime IPC, HTTP, crash and secrets tests, the
# bindings staleness check, MCP against the npm reference server), the master key in a real Secret
# Service (scripts/keychain-test.sh), the openai, shannon-sdk and mcp Python
# packages against the listener, and the guest-js package
# (typecheck, build, Vitest), and the desktop example end to end in a real webview (scripts/e2e.sh).
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
echo "==> the master key in a real OS keychain (gnome-keyring on a private session bus)"
scripts/keychain-test.sh
# Benchmarks compile above (--all-targets) but are measured with `cargo bench`, never in tests.

echo "==> OpenAI and Shannon SDK Python clients against the listener"
scripts/openai-client-test.sh

echo "==> guest-js (npm)"
npm run typecheck
npm run build
echo "==> API references: rustdoc of the public facade (no missing docs) and TypeDoc of the npm package"
RUSTDOCFLAGS="-D warnings -D missing_docs" cargo doc --locked --no-deps --lib
npm run docs
npm test

echo "==> a fresh Tauri app from the packed crate and npm tarball"
scripts/fresh-app.sh

echo "==> end-to-end tests of the desktop example (WebKitGTK under Xvfb)"
scripts/e2e.sh
echo "==> all tests passed"
