#!/usr/bin/env bash
# A new Tauri app, made in a temporary folder from the two packages as an embedder gets them: the crate
# packed by `cargo package` and the npm tarball made by `npm pack` (its prepack builds dist-js). Nothing
# points into this repository's sources: the app reads the packed files only, and adds the plugin with
# the lines README.md's "Install" section documents. It passes when the Rust side compiles
# (`cargo check`: the build script, the permissions and the migrations come from the package) and a
# frontend that subscribes to a task type-checks with `tsc --strict` against the package's types.
# The build reuses target/ (a cache, not a source) so only the plugin and the app compile.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)

# The documented lines, read from the README so the check follows what newcomers are told.
readme_line() {
  grep -m1 -F -- "$1" README.md || { echo "README.md's install section lacks: $1" >&2; exit 1; }
}
crate_line=$(readme_line 'tauri-plugin-shannon = "')
plugin_line=$(readme_line '.plugin(tauri_plugin_shannon::init())')
readme_line 'npm install tauri-plugin-shannon-api' >/dev/null
capability_line=$(readme_line '"permissions": ["core:default", "shannon:default"]')

echo "==> packing the crate and the npm package"
cargo package --quiet --no-verify --allow-dirty --locked
mkdir -p "$work/vendor"
tar -xzf "target/package/tauri-plugin-shannon-$version.crate" -C "$work/vendor"
npm pack --silent --pack-destination "$work" >/dev/null
tarball="$work/tauri-plugin-shannon-api-$version.tgz"
test -f "$tarball"
# What an install needs must be in the tarball.
listing=$(tar -tzf "$tarball")
for f in index.js index.cjs index.d.ts react.js react.cjs react.d.ts; do
  grep -qx "package/dist-js/$f" <<<"$listing" || { echo "the npm tarball lacks dist-js/$f" >&2; exit 1; }
done

app="$work/app"
mkdir -p "$app/src" "$app/dist" "$app/src-tauri/src" "$app/src-tauri/capabilities" "$app/src-tauri/icons"
cat >"$app/src-tauri/Cargo.toml" <<TOML
[package]
name = "fresh-shannon-app"
version = "0.1.0"
edition = "2021"

[build-dependencies]
tauri-build = { version = "2", features = [] }

[dependencies]
tauri = { version = "2", features = [] }
$crate_line

# Until the crate is published: the registry line above, served by the packed crate.
[patch.crates-io]
tauri-plugin-shannon = { path = "../../vendor/tauri-plugin-shannon-$version" }
TOML
# The repository's lock keeps dependency versions equal to those already built in target/.
cp Cargo.lock "$app/src-tauri/Cargo.lock"
echo 'fn main() { tauri_build::build() }' >"$app/src-tauri/build.rs"
cat >"$app/src-tauri/src/main.rs" <<RS
fn main() {
    tauri::Builder::default()
        $plugin_line
        .run(tauri::generate_context!())
        .expect("error while running tauri application");
}
RS
cat >"$app/src-tauri/tauri.conf.json" <<'JSON'
{
  "productName": "fresh-shannon-app",
  "version": "0.1.0",
  "identifier": "dev.shannon.fresh",
  "build": { "frontendDist": "../dist" },
  "app": { "windows": [{ "title": "Fresh" }] },
  "bundle": { "active": false }
}
JSON
echo "$capability_line" >"$app/src-tauri/capabilities/default.json"
python3 - "$app/src-tauri/icons/icon.png" <<'PY'
import struct, sys, zlib
w = h = 32
raw = b"".join(b"\x00" + b"\x20\x60\xc0\xff" * w for _ in range(h))
chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
PY
echo '<!doctype html><title>Fresh</title><script type="module" src="main.js"></script>' >"$app/dist/index.html"

cat >"$app/package.json" <<JSON
{ "name": "fresh-shannon-app", "private": true, "type": "module",
  "dependencies": { "tauri-plugin-shannon-api": "file:$tarball" } }
JSON
cat >"$app/tsconfig.json" <<'JSON'
{ "compilerOptions": { "target": "es2021", "module": "esnext", "moduleResolution": "bundler", "strict": true,
    "noEmit": true, "skipLibCheck": false, "lib": ["esnext", "dom"] }, "include": ["src"] }
JSON
cat >"$app/src/main.ts" <<'TS'
import { submitTask, subscribeTask, type TaskEvent } from "tauri-plugin-shannon-api";

export async function ask(query: string, show: (text: string) => void): Promise<void> {
  const { task_id } = await submitTask({ query });
  let answer = "";
  const stream = await subscribeTask(task_id, {
    onEvent: (e: TaskEvent) => {
      if (e.type === "LLM_PARTIAL") show((answer += e.message ?? ""));
      // The payload's type follows the event's: approval_id is a string here.
      if (e.type === "APPROVAL_REQUESTED") pending.push(e.payload.approval_id);
    },
  });
  await stream.done;
}

export const pending: string[] = [];

export async function lastEvents(taskId: string): Promise<TaskEvent[]> {
  const events: TaskEvent[] = [];
  const controller = new AbortController();
  for await (const e of await subscribeTask(taskId, { signal: controller.signal })) {
    events.push(e);
    if (events.length === 10) controller.abort();
  }
  return events;
}
TS

echo "==> npm install of the packed tarball, then tsc --strict"
(cd "$app" && npm install --silent --no-audit --no-fund && npm install --silent --no-audit --no-fund --save-dev "typescript@$(node -p "require('$repo/node_modules/typescript/package.json').version")" && npx tsc -p .)
echo "==> cargo check of the app on the packed crate"
(cd "$app/src-tauri" && CARGO_TARGET_DIR="$repo/target" cargo check --quiet)
echo "==> a fresh app builds from the packed crate and npm tarball"
