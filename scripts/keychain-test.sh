#!/usr/bin/env bash
# The master key in a real OS keychain (tests/keychain.rs): a throwaway gnome-keyring Secret Service
# on a private session bus, in a throwaway home, so the tests never see the keychain of the person or
# machine running them. Installs nothing (scripts/ensure-deps.sh does). Called by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in dbus-run-session gnome-keyring-daemon secret-tool; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "$tool is missing: run scripts/ensure-deps.sh" >&2
    exit 1
  }
done

# Build first, outside the throwaway home, so cargo and rustup find their own.
cargo test --locked --test keychain --no-run

home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
mkdir -p -m 700 "$home/runtime"
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
export HOME="$home" XDG_RUNTIME_DIR="$home/runtime" XDG_DATA_HOME="$home/data" \
  XDG_CONFIG_HOME="$home/config" XDG_CACHE_HOME="$home/cache" SHANNON_KEYCHAIN_TEST=1
unset DISPLAY WAYLAND_DISPLAY

# The keyring daemon unlocks (and first creates) the login keyring with the password on its stdin and
# serves org.freedesktop.secrets on the private bus; the bus ends with the tests, and the daemon with it.
dbus-run-session -- sh -c '
  printf test | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  cargo test --locked --test keychain -- --test-threads=1
'
