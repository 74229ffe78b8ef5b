#!/bin/sh
# The browser tests (tests/fixtures/browser.py) drive the system Chromium at /usr/bin/chromium
# through Playwright; they never download a browser. `make test` runs this first: when Chromium
# is missing it installs Debian's package if it can (root on Debian, as in CI), else it stops
# with the one command to run.
set -eu
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ] && command -v apt-get >/dev/null; then
    echo "Installing Chromium for the browser tests (apt-get install chromium)..."
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
    [ -x "$CHROMIUM" ] && exit 0
    echo "apt-get installed chromium, but $CHROMIUM is still missing" >&2
    exit 1
fi
echo "The browser tests need Chromium at $CHROMIUM. Install it with:" >&2
echo "    sudo apt-get update && sudo apt-get install -y chromium" >&2
exit 1
