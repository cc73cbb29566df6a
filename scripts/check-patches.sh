#!/usr/bin/env bash
# Checks that third_party/patches/*.patch, applied to the published crates,
# give exactly the sources in third_party/ (the patches stay reviewable and
# re-appliable on a new release). Downloads each crate once into .tools/.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=.tools/published
mkdir -p "$cache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for spec in ldap3:0.12.1 lber:0.5.1; do
  name=${spec%%:*} version=${spec##*:}
  crate="$cache/$name-$version.crate"
  [[ -s "$crate" ]] || curl -sSfL -o "$crate" "https://static.crates.io/crates/$name/$name-$version.crate"
  tar xzf "$crate" -C "$work"
  patch -s -p1 -d "$work/$name-$version" < "third_party/patches/$name-$version.patch"
  if ! diff -r "$work/$name-$version/src" "third_party/$name/src" >/dev/null; then
    echo "third_party/patches/$name-$version.patch does not reproduce third_party/$name/src" >&2
    diff -r "$work/$name-$version/src" "third_party/$name/src" | head -20 >&2
    exit 1
  fi
  echo "[patches] $name $version: the patch reproduces third_party/$name"
done
