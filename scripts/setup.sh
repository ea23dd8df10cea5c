#!/usr/bin/env bash
# Installs what the demo, the tests and the benchmarks need on a fresh Debian 12 machine with Node and
# root: the Debian packages postgresql, redis-server and chromium (the scorecard test renders the page in
# headless Chromium) when missing, pgvector when its source is at hand, then the npm packages (which
# include the Node 22 binary every script runs on). Safe to run again.
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

# pgvector (TESTING.md): not packaged for Debian 12, so it is built from its release tarball where one is at
# hand ($NCA_PGVECTOR_SRC, else ../shared/vendor/). Its build headers upgrade Debian's PostgreSQL, which is
# why this runs here, before any test server starts. Without the tarball, or if the build fails, only the
# pgvector tests skip (their titles say so): the rest of the suite does not depend on it.
pgvector_src="${NCA_PGVECTOR_SRC:-$(ls ../shared/vendor/pgvector-*.tar.gz 2>/dev/null | sort -V | tail -1 || true)}"
pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
pg_major="$(basename "$(dirname "$pg_bin")")"
build_pgvector() {
  # Each step chained: `set -e` does not apply inside a function called as an `if` condition.
  # OPTFLAGS empty: no tuning for this machine's CPU.
  local build
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -qq --no-install-recommends "postgresql-server-dev-$pg_major" build-essential >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "postgresql-server-dev-$pg_major" build-essential >/dev/null; }; } \
    && build="$(mktemp -d)" \
    && tar xzf "$pgvector_src" -C "$build" --strip-components=1 \
    && make -s -C "$build" PG_CONFIG="$pg_bin/pg_config" OPTFLAGS="" >/dev/null 2>&1 \
    && make -s -C "$build" install PG_CONFIG="$pg_bin/pg_config" >/dev/null 2>&1 \
    && rm -rf "$build" \
    && { (service postgresql stop || true) >/dev/null 2>&1; }
}
if [ -n "$pgvector_src" ] && [ -f "$pgvector_src" ] && [ -n "$pg_bin" ] && [ "$(id -u)" -eq 0 ] \
  && ! [ -f "/usr/share/postgresql/$pg_major/extension/vector.control" ]; then
  echo "setup: building pgvector from $pgvector_src for PostgreSQL $pg_major" >&2
  if build_pgvector; then
    echo "setup: pgvector installed" >&2
  else
    echo "setup: pgvector could not be built; the pgvector tests will be skipped" >&2
  fi
fi

if [ ! -x node_modules/.bin/jest ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "setup: ready (node $(node_modules/.bin/node --version) for scripts and tests)" >&2
