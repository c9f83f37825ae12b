#!/usr/bin/env bash
# Test set-up: the HTML report is checked in headless Chromium (Debian's package).
# Installs it when missing and this is a root shell with apt-get; otherwise says why
# the browser test will be skipped.  Never fails the build.
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the HTML report test..."
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) \
        >/dev/null 2>&1 || echo "could not install chromium: the HTML report test will be skipped"
else
    echo "chromium is not installed and cannot be installed here (needs root and apt-get): the HTML report test will be skipped"
fi
exit 0
