#!/usr/bin/env bash
# End-to-end tests of the desktop example (examples/shannon-app) in a real WebKitGTK webview:
# builds the UI and the release app, installs tauri-driver into target/tools if missing, and runs
# examples/shannon-app/e2e/run.mjs under Xvfb against a fake OpenAI-compatible provider and the fake
# Shannon cloud (examples/fake_cloud.rs).
# Screenshots of every step and the app's log land in target/e2e-screenshots/. Called by scripts/test.sh.
# Honours CARGO_TARGET_DIR (the app and tauri-driver are looked for there; screenshots stay here).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh --node

[[ -d node_modules ]] || npm ci --no-audit --no-fund
node examples/shannon-app/e2e/readme-lines.mjs
echo "==> e2e: UI bundle"
npm run --silent build:app
node examples/shannon-app/e2e/no-html-sinks.mjs
echo "==> e2e: release build of shannon-app"
cargo build --locked --release -p shannon-app
# A debug build: its dependencies are the tests' (a release one would compile Tauri a second time).
echo "==> e2e: the fake Shannon cloud"
cargo build --locked --example fake_cloud

target=$(realpath -m "${CARGO_TARGET_DIR:-target}")
driver=$target/tools/bin/tauri-driver
if [[ ! -x $driver ]]; then
  echo "==> e2e: installing tauri-driver 2.1.0 into $target/tools"
  cargo install tauri-driver --locked --version 2.1.0 --root "$target/tools"
fi

# A throwaway home: the app's database, master key, configuration and WebKit storage go there.
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
mkdir -p "$home/data" "$home/config" "$home/cache"

echo "==> e2e: WebDriver tests under Xvfb"
HOME="$home" XDG_DATA_HOME="$home/data" XDG_CONFIG_HOME="$home/config" XDG_CACHE_HOME="$home/cache" \
  SHANNON_E2E_HOME="$home" SHANNON_APP="$target/release/shannon-app" TAURI_DRIVER="$driver" \
  FAKE_CLOUD="$target/debug/examples/fake_cloud" \
  SCREENSHOTS="$PWD/target/e2e-screenshots" \
  xvfb-run -a -s "-screen 0 1280x900x24" node examples/shannon-app/e2e/run.mjs
