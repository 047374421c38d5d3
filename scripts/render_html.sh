#!/usr/bin/env bash
# Render a Veriscope HTML report to PNG with headless Chromium (no network).
# Usage: scripts/render_html.sh REPORT.html OUT.png [WIDTHxHEIGHT]
set -euo pipefail
if [[ $# -lt 2 ]]; then
  echo "usage: $0 REPORT.html OUT.png [WIDTHxHEIGHT]" >&2
  exit 2
fi
html=$(realpath "$1")
png=$(realpath -m "$2")
size=${3:-1280x2000}
browser=""
for candidate in chromium chromium-browser google-chrome; do
  if command -v "$candidate" >/dev/null 2>&1; then browser=$candidate; break; fi
done
if [[ -z $browser ]]; then
  echo "chromium not found; install it with: apt-get install -y chromium" >&2
  exit 2
fi
"$browser" --headless --no-sandbox --disable-gpu --disable-background-networking \
  --disable-component-update --disable-sync --no-first-run \
  --screenshot="$png" --window-size="${size/x/,}" "file://$html" >/dev/null 2>&1
test -s "$png"
echo "$png"
