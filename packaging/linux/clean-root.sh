#!/usr/bin/env bash
# A clean, minimal Debian 12 system in a folder, for testing the installers as a new user gets
# them: `debootstrap --variant=minbase bookworm` (apt, dpkg and the essential packages, nothing
# else) is made once into a tarball cached in ~/.cache/duet-build, and each test run extracts a
# fresh copy of it, so no run sees what an earlier one installed.
#   clean-root.sh tarball   prints the cached tarball's path, making it first if needed (~2 min)
#   clean-root.sh new DIR   extracts a fresh clean system into DIR (which must be empty or absent)
set -euo pipefail
CACHE="${DUET_BUILD_CACHE:-$HOME/.cache/duet-build}"
TARBALL="$CACHE/debian-bookworm-minbase.tar"

# The same Debian mirror this machine's apt uses (deb.debian.org when none is found).
mirror() {
  local url
  url=$(grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
    | grep -v -- '-security' | head -n1 | tr -d ' ' || true)
  echo "${url:-http://deb.debian.org/debian}"
}

make_tarball() {
  command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
  local tmp mirror_url
  mirror_url=$(mirror)
  tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/duet-debootstrap.XXXXXX")
  chmod 755 "$tmp" # it becomes the system's /
  echo "Making the clean Debian 12 system (debootstrap --variant=minbase bookworm from $mirror_url, once)..." >&2
  debootstrap --variant=minbase bookworm "$tmp" "$mirror_url" >"$tmp.log" 2>&1 \
    || { tail -n 20 "$tmp.log" >&2; rm -rf "$tmp"; exit 1; }
  # What a new Debian 12 has: the release, its updates and the security archive.
  local security=${mirror_url%/debian*}/debian-security
  printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb %s bookworm-security main\n' \
    "$mirror_url" "$mirror_url" "$security" >"$tmp/etc/apt/sources.list"
  rm -f "$tmp"/var/cache/apt/archives/*.deb
  mkdir -p "$CACHE"
  tar -C "$tmp" -cf "$TARBALL.partial" .
  mv "$TARBALL.partial" "$TARBALL"
  rm -rf "$tmp" "$tmp.log"
}

case "${1:-}" in
  tarball)
    [ -f "$TARBALL" ] || make_tarball
    echo "$TARBALL"
    ;;
  new)
    dir=${2:?usage: clean-root.sh new DIR}
    [ -f "$TARBALL" ] || make_tarball
    mkdir -p "$dir"
    [ -z "$(ls -A "$dir")" ] || { echo "clean-root.sh: $dir is not empty" >&2; exit 1; }
    tar -C "$dir" -xf "$TARBALL"
    chmod 755 "$dir" # the system's / : its users must be able to enter it
    ;;
  *)
    echo "usage: clean-root.sh tarball | new DIR" >&2
    exit 2
    ;;
esac
