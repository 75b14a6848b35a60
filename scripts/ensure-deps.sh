#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build and test the plugin.
# Usage: scripts/ensure-deps.sh [--node]
#   System packages go through apt-get when running as root or with passwordless sudo; otherwise the
#   script names the exact packages to install and exits 1.
set -euo pipefail

# Tauri links GTK and WebKitGTK even for MockRuntime tests; libdbus is for the full example app;
# WebKitWebDriver and Xvfb drive the example app in a real webview for the end-to-end tests;
# libdbus is also the keyring crate's Secret Service client, and the master key tests run against a
# real one: gnome-keyring on a private bus (dbus-run-session, in dbus-daemon), checked with secret-tool.
PACKAGES=(build-essential pkg-config libwebkit2gtk-4.1-dev libdbus-1-dev webkit2gtk-driver xvfb
  dbus-daemon gnome-keyring libsecret-tools)
need_node=0
[[ "${1:-}" == "--node" ]] && need_node=1

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((need_node)) && ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    SUDO=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    echo "Missing system packages: ${missing[*]}" >&2
    echo "Install them with:  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "==> installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo (Rust >= 1.90) is required: install it with rustup (https://rustup.rs)" >&2
  exit 1
fi
