#!/usr/bin/env bash
# Make Debian's Chromium available to the browser tests (tests/test_browser.py).
# Never downloads a browser of its own: only the distribution's package, and
# only where we may (root with apt-get). Elsewhere the browser test skips, and
# says why; under CI=true a missing browser fails that test instead.
set -uo pipefail
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "[setup] installing Debian's chromium for the browser tests"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
        || echo "[setup] could not install chromium; the browser test will report it"
fi
exit 0
