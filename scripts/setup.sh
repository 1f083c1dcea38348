#!/usr/bin/env bash
# Installs what the service needs on a Debian machine; safe to run again (skips what is done).
#   apt (as root, only when missing): redis-server, chromium (browser tests), python3.11-venv;
#   nginx-light if it can be had (the front-server tests run their own nginx; Debian's service
#   is stopped and disabled)
#   .venv with the pinned dependencies (requirements.lock), the project in editable mode
#   Natural Earth shapes for offline maps under var/cartopy
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "setup: $*"; }

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if ! command -v python3.11 >/dev/null 2>&1; then
  missing+=(python3.11 python3.11-venv)
elif [ ! -x .venv/bin/python ] && ! python3.11 -c 'import ensurepip' >/dev/null 2>&1; then
  missing+=(python3.11-venv)  # Debian splits venv/ensurepip out of python3.11
fi
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    log "WARNING: missing ${missing[*]}; install them with: sudo apt-get install ${missing[*]}" >&2
  fi
fi
# Optional: only the front-server tests need nginx (they skip without it, saying so).
if [ ! -x /usr/sbin/nginx ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  log "apt-get install nginx-light"
  if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends nginx-light; }; then
    if [ -d /run/systemd/system ]; then
      # The package starts a default site on port 80 and enables it at boot; the tests and
      # deploy/ run nginx with their own configuration.
      log "stopping and disabling Debian's nginx service (not used by this project)"
      systemctl disable --now nginx >/dev/null 2>&1 || true
    fi
  else
    log "WARNING: nginx-light could not be installed; the front-server tests will skip" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  log "creating .venv (python3.11)"
  python3.11 -m venv .venv
fi

# Reinstall only when the pins or the package list changed.
mkdir -p var
stamp=var/.setup-stamp
wanted=$(cat pyproject.toml requirements.lock | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
  log "pip install -c requirements.lock -e .[test]"
  .venv/bin/pip install -q --disable-pip-version-check -c requirements.lock -e '.[test]'
  echo "$wanted" > "$stamp"
fi

.venv/bin/python -m forecast.plots.natural_earth "${GCF_VAR_DIR:-var}/cartopy" >/dev/null
log "ready"
