#!/usr/bin/env bash
# Provision everything the reading center needs on a Debian-like machine, idempotently:
# system packages, PostgreSQL and Redis (used when configured or reachable, provisioned under
# var/ when not), the Python environment, and the database schema. Used by `make demo` and
# `make test`; safe to run again and again.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VAR=$ROOT/var
mkdir -p "$VAR"
ENV_FILE=$VAR/env
touch "$ENV_FILE"
# Settings chosen on an earlier run (a provisioned database, say) stay chosen.
set -a; . "$ENV_FILE"; set +a

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }
remember() { grep -q "^$1=" "$ENV_FILE" || echo "$1=$2" >> "$ENV_FILE"; export "$1=$2"; }

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
APT_UPDATED=""
apt_install() {
    local missing=()
    for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing Debian packages: ${missing[*]}"
    if [ -z "$APT_UPDATED" ]; then $SUDO apt-get update -qq; APT_UPDATED=1; fi
    # Debian's orthanc package would start a system Orthanc on 8042/4242; we run our own,
    # so keep package scripts from starting services while we install.
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" \
        || { $SUDO rm -f /usr/sbin/policy-rc.d; exit 1; }
    $SUDO rm -f /usr/sbin/policy-rc.d
}

# --- system packages ---------------------------------------------------------------------------
# chromium: the browser tests drive it headless through Playwright (never `playwright install`).
# fonts-wqy-zenhei: one TrueType font with Hangul, Han and Latin, embedded in report PDFs.
# orthanc-postgresql: Orthanc's index in PostgreSQL, shared by the nodes of a cluster.
# haproxy: the cluster's front (HTTP, WebSockets and DICOM to the nodes; `make cluster`).
# iproute2: `ip netns`, each cluster node on its own network (`make cluster`).
# gettext: msgfmt compiles the Korean and Chinese catalogues (locale/); the tests run xgettext.
apt_install orthanc orthanc-dicomweb orthanc-gdcm orthanc-postgresql dcmtk dicom3tools python3-venv ca-certificates \
    chromium fonts-wqy-zenhei haproxy iproute2 gettext

# Debian's own Orthanc service (started by an earlier install, or at boot) holds 4242 and 8042;
# the reading center runs its own Orthanc with its own configuration, so stop the system one.
if pgrep -f "Orthanc /etc/orthanc" >/dev/null 2>&1; then
    say "stopping Debian's system Orthanc service (the reading center runs its own)"
    $SUDO service orthanc stop >/dev/null 2>&1 || $SUDO pkill -f "Orthanc /etc/orthanc" || true
fi

PYTHON=${PYTHON:-}
if [ -z "$PYTHON" ]; then
    for candidate in python3.11 python3; do
        if have "$candidate" && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
            PYTHON=$(command -v "$candidate"); break
        fi
    done
fi
if [ -z "$PYTHON" ]; then
    apt_install python3.11 python3.11-venv
    PYTHON=$(command -v python3.11)
fi

# --- PostgreSQL --------------------------------------------------------------------------------
pg_ready() { "$ROOT/.venv/bin/python" - "$1" <<'PY' 2>/dev/null
import sys, psycopg
url = sys.argv[1]
base = url.rsplit("/", 1)[0] + "/postgres"
with psycopg.connect(base, connect_timeout=3) as conn:
    conn.execute("select 1")
PY
}

# --- Python environment (needed before the database checks, which use psycopg) -------------------
STAMP=.venv/.installed
HASH=$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    say "creating the Python environment (.venv) with $PYTHON"
    rm -rf .venv
    "$PYTHON" -m venv .venv
fi
if [ "$(cat "$STAMP" 2>/dev/null)" != "$HASH" ]; then
    say "installing Python packages (pip install -e .[dev])"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[dev]'
    echo "$HASH" > "$STAMP"
fi

DEFAULT_DB=postgresql://postgres@127.0.0.1:5432/readingcenter
if [ -z "${DATABASE_URL:-}" ]; then
    if pg_ready "$DEFAULT_DB"; then
        export DATABASE_URL=$DEFAULT_DB
    else
        say "no PostgreSQL configured or reachable: provisioning a project-local cluster in var/postgres"
        apt_install postgresql
        PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
        PGPORT=${PGPORT_LOCAL:-5433}
        if [ ! -f "$VAR/postgres/PG_VERSION" ]; then
            mkdir -p "$VAR/postgres"; chown postgres: "$VAR/postgres"
            runuser -u postgres -- "$PGBIN/initdb" -D "$VAR/postgres" --auth=trust -U postgres -E UTF8 >/dev/null
        fi
        if ! runuser -u postgres -- "$PGBIN/pg_ctl" -D "$VAR/postgres" status >/dev/null 2>&1; then
            runuser -u postgres -- "$PGBIN/pg_ctl" -D "$VAR/postgres" -l "$VAR/postgres/server.log" \
                -o "-p $PGPORT -c listen_addresses=127.0.0.1 -k /tmp" -w start >/dev/null
        fi
        remember DATABASE_URL "postgresql://postgres@127.0.0.1:$PGPORT/readingcenter"
    fi
fi
"$ROOT/.venv/bin/python" - "$DATABASE_URL" <<'PY'
import sys, psycopg
from urllib.parse import urlsplit
url = sys.argv[1]
name = urlsplit(url).path.lstrip("/")
with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True, connect_timeout=5) as conn:
    if not conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone():
        conn.execute(f'create database "{name}"')
        print(f"created database {name}", file=sys.stderr)
PY

# --- Redis (the Channels layer) ------------------------------------------------------------------
redis_ping() { "$ROOT/.venv/bin/python" -c "import redis,sys; redis.Redis.from_url(sys.argv[1], socket_timeout=2).ping()" "$1" 2>/dev/null; }
if [ -z "${REDIS_URL:-}" ]; then
    if redis_ping redis://127.0.0.1:6379/0; then
        export REDIS_URL=redis://127.0.0.1:6379/0
    else
        say "no Redis configured or reachable: starting a project-local one in var/redis"
        apt_install redis-server
        mkdir -p "$VAR/redis"
        redis-server --daemonize yes --bind 127.0.0.1 --port 6380 --save "" --appendonly no \
            --dir "$VAR/redis" --logfile "$VAR/redis/redis.log"
        remember REDIS_URL redis://127.0.0.1:6380/0
    fi
fi

# --- the OHIF viewer (a prebuilt dist from npm, served by Django under /ohif/) ---------------------
OHIF_VERSION=3.13.2
OHIF_TARGET=$VAR/ohif/dist
OHIF_STAMP=$VAR/ohif/version
if [ ! -f "$OHIF_TARGET/index.html" ] || [ "$(cat "$OHIF_STAMP" 2>/dev/null)" != "$OHIF_VERSION" ]; then
    have npm || apt_install nodejs npm
    say "installing the OHIF viewer @ohif/app@$OHIF_VERSION into var/ohif/dist (a 50 MB download)"
    OHIF_TMP=$(mktemp -d)
    # The package ships a built dist/; nothing is compiled and no node_modules are needed.
    (cd "$OHIF_TMP" && npm pack --silent "@ohif/app@$OHIF_VERSION" >/dev/null \
        && tar -xzf ohif-app-"$OHIF_VERSION".tgz package/dist)
    rm -rf "$OHIF_TARGET"
    mkdir -p "$VAR/ohif"
    mv "$OHIF_TMP/package/dist" "$OHIF_TARGET"
    rm -rf "$OHIF_TMP"
    echo "$OHIF_VERSION" > "$OHIF_STAMP"
fi

# --- the interface's languages ---------------------------------------------------------------------
# Our catalogues (locale/*/LC_MESSAGES/django.po) compiled to .mo. Django REST framework ships its
# Korean messages as ko_KR, which a "ko" interface never looks up: they are offered as "ko" from
# var/locale, the second of LOCALE_PATHS, so that ours win where both have a message.
say "compiling the interface's translations (ko, zh-hans)"
.venv/bin/python manage.py compilemessages --ignore='.venv/*' --ignore='var/*' --ignore='node_modules/*' -v 0
DRF_LOCALE=$(.venv/bin/python -c 'import pathlib, rest_framework; print(pathlib.Path(rest_framework.__file__).parent / "locale")')
mkdir -p "$VAR/locale/ko/LC_MESSAGES"
cp "$DRF_LOCALE/ko_KR/LC_MESSAGES/django.mo" "$VAR/locale/ko/LC_MESSAGES/django.mo"

# --- schema ----------------------------------------------------------------------------------------
say "migrating the database"
.venv/bin/python manage.py migrate --no-input -v 0
.venv/bin/python manage.py collectstatic --no-input -v 0
say "setup complete"
