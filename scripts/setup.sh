#!/usr/bin/env bash
# Installs what the demo, the tests and the benchmarks need on a fresh Debian 12 machine with Node and
# root: the Debian packages postgresql, redis-server and chromium (the scorecard test renders the page in
# headless Chromium) when missing, then the npm packages (which include the Node 22 binary every script
# runs on). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages ${missing[*]}; run as root or: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The packages start a system cluster and server; the tests start their own on free ports.
  (service postgresql stop || true) >/dev/null 2>&1
  (service redis-server stop || true) >/dev/null 2>&1
fi

if [ ! -x node_modules/.bin/jest ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "setup: ready (node $(node_modules/.bin/node --version) for scripts and tests)" >&2
