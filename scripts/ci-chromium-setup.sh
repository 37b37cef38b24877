#!/usr/bin/env bash
# Installs Debian's Chromium for the report and browser tests (test/viz, test/browser), which
# drive it headlessly through playwright-core at /usr/bin/chromium (override: DEEP_NRC_CHROMIUM).
# Idempotent, and never fails CI: without Chromium those tests skip and say why.
CHROMIUM="${DEEP_NRC_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
  echo "ci-chromium-setup: $CHROMIUM present ($("$CHROMIUM" --version 2>/dev/null || echo 'version unknown'))"
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "ci-chromium-setup: $CHROMIUM missing and not root; browser tests will skip" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ci-chromium-setup: $CHROMIUM missing and no apt-get; browser tests will skip" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends chromium fonts-liberation fonts-dejavu-core >/dev/null 2>&1; then
  # package lists may be missing on a fresh image
  apt-get update >/dev/null 2>&1 || true
  apt-get install -y --no-install-recommends chromium fonts-liberation fonts-dejavu-core >/dev/null 2>&1 || true
fi
if [ -x "$CHROMIUM" ]; then
  echo "ci-chromium-setup: installed $("$CHROMIUM" --version 2>/dev/null || echo chromium)"
else
  echo "ci-chromium-setup: could not install chromium; browser tests will skip" >&2
fi
exit 0
