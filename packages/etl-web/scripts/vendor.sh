#!/usr/bin/env bash
# Refresh the vendored MapLibre GL JS from the npm registry (pinned by frontend/package-lock.json).
#
#   bash packages/etl-web/scripts/vendor.sh
#
# The built files are committed under src/etl_web/static/vendor/, so neither bootstrap nor CI
# nor a container build needs npm or the network; run this only to upgrade MapLibre (edit the
# version in frontend/package.json first), then commit the files it writes.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$HERE/src/etl_web/static/vendor/maplibre-gl"
cd "$HERE/frontend"
if [ -f package-lock.json ]; then npm ci --ignore-scripts --no-audit --no-fund; else npm install --ignore-scripts --no-audit --no-fund; fi
SRC="node_modules/maplibre-gl/dist"
mkdir -p "$DEST"
# The CSP build loads its worker from our own origin, so the page's CSP needs no blob: workers.
for f in maplibre-gl-csp.js maplibre-gl-csp-worker.js maplibre-gl.css LICENSE.txt; do
  cp "$SRC/$f" "$DEST/$f"
done
version="$(node -p "require('./node_modules/maplibre-gl/package.json').version")"
{
  echo "maplibre-gl $version (npm registry, BSD-3-Clause: see LICENSE.txt)"
  (cd "$DEST" && sha256sum maplibre-gl-csp.js maplibre-gl-csp-worker.js maplibre-gl.css)
} >"$DEST/VENDORED.txt"
rm -rf node_modules
echo "vendored maplibre-gl $version into $DEST"
