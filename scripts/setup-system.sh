#!/usr/bin/env bash
# System packages the app's tests and demo need: Debian's chromium (driven by Playwright, never
# `playwright install`) and PostgreSQL (the API suite also runs against a real server).
# Idempotent: installs only what is missing, so a second run costs nothing.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    missing+=(postgresql)
fi

if [ ${#missing[@]} -eq 0 ]; then
    echo "setup-system: chromium and postgresql already present"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
echo "setup-system: installing ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
