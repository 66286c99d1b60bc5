#!/bin/sh
# Vendors uPlot, the console's chart library, from npm into assets/vendor/
# (committed: go build needs no Node.js). Run it from anywhere to update:
#   console/vendor.sh [version]
set -eu
version=${1:-1.6.32}
dest=$(cd "$(dirname "$0")" && pwd)/assets/vendor
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "uplot@$version" >/dev/null && tar -xzf "uplot-$version.tgz")
mkdir -p "$dest"
cp "$tmp/package/dist/uPlot.iife.min.js" "$tmp/package/dist/uPlot.min.css" "$dest/"
cp "$tmp/package/LICENSE" "$dest/uPlot.LICENSE"
echo "uPlot $version vendored into $dest"
