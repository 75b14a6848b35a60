#!/usr/bin/env bash
# Runs the headless example's listener (`serve`) and drives it with the official `openai`,
# `shannon-sdk`, `mcp` and `prometheus_client` Python packages (installed into target/py-openai);
# then cross-checks the fake Shannon cloud (examples/fake_cloud.rs) with `shannon-sdk`. Called by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/py-openai
if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv" 2>/dev/null || { echo "python3 -m venv is unavailable: install python3-venv" >&2; exit 1; }
fi
# shannon-sdk is pinned: the calls it makes and the fields it parses are version-specific.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "openai>=1.40,<3" "shannon-sdk==0.7.0" "mcp==2.3.0" \
  "prometheus_client>=0.20,<1"

data=$(mktemp -d)
token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
log="$data/serve.log"
cargo build --locked --quiet --example headless
SHANNON_DATA_DIR="$data" target/debug/examples/headless serve --port 0 --token "$token" >"$log" 2>&1 &
server=$!
fake=""
trap 'kill $server $fake 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 300); do
  url=$(sed -n 's/^Shannon listening on //p' "$log")
  [[ -n "$url" ]] && break
  kill -0 $server 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.1
done
[[ -n "${url:-}" ]] || { echo "the listener did not start" >&2; cat "$log" >&2; exit 1; }
"$venv/bin/python" tests/python/openai_client.py "$url" "$token"
"$venv/bin/python" tests/python/shannon_sdk_client.py "$url" "$token"
"$venv/bin/python" tests/python/mcp_client.py "$url" "$token"
"$venv/bin/python" tests/python/metrics_client.py "$url" "$token"

# The fake cloud, read by the SDK that was written against the real one.
cargo build --locked --quiet --example fake_cloud
fake_log="$data/fake-cloud.log"
target/debug/examples/fake_cloud --api-key "sk_${token}${token:0:16}" >"$fake_log" 2>&1 &
fake=$!
fake_url=""
for _ in $(seq 1 300); do
  fake_url=$(sed -n 's/^Fake Shannon cloud listening on //p' "$fake_log")
  [[ -n "$fake_url" ]] && break
  kill -0 $fake 2>/dev/null || { cat "$fake_log" >&2; exit 1; }
  sleep 0.1
done
[[ -n "$fake_url" ]] || { echo "the fake cloud did not start" >&2; cat "$fake_log" >&2; exit 1; }
"$venv/bin/python" tests/python/fake_cloud_sdk.py "$fake_url" "sk_${token}${token:0:16}"
