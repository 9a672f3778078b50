#!/usr/bin/env bash
# Builds a Debian 12 (bookworm) base image locally, for hosts that cannot pull
# docker.io/library/debian:bookworm (the development VM has no registry access, only
# deb.debian.org): debootstrap --variant=minbase, then `podman import`. The Containerfile takes it
# with --build-arg BASE=localhost/vertebra-base:bookworm; with a registry, use the default BASE.
#
#   sudo deploy/container/base.sh [--force] [--image NAME]
#
# Idempotent: an existing image is kept unless --force. Needs root (debootstrap chroots), podman
# and debootstrap (apt-get install podman runc debootstrap). DEBIAN_MIRROR and
# DEBIAN_SECURITY_MIRROR override the mirrors (default http://deb.debian.org/debian and
# http://deb.debian.org/debian-security). Takes about 30 s on the 2-core VM (README.md).
set -euo pipefail

die() { echo "base.sh: $*" >&2; exit 1; }
usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
  exit "${1:-0}"
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
image=localhost/vertebra-base:bookworm
force=0
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage 0 ;;
    --force) force=1 ;;
    --image) [ $# -ge 2 ] || die "--image needs a name"; image=$2; shift ;;
    *) echo "base.sh: unknown argument $1" >&2; usage 2 ;;
  esac
  shift
done
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# The security archive is on deb.debian.org too, so one reachable host is enough.
security=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap needs it): sudo $0"
command -v podman >/dev/null || die "podman is missing: apt-get install podman runc"
command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install debootstrap"
# The VM's workarounds (runc, ulimits), unless the caller chose a configuration; see containers.conf.
if [ -z "${CONTAINERS_CONF:-}" ] && [ -n "${VERTEBRA_CONTAINERS_CONF-$here/containers.conf}" ]; then
  export CONTAINERS_CONF=${VERTEBRA_CONTAINERS_CONF-$here/containers.conf}
fi

if podman image exists "$image" && [ "$force" = 0 ]; then
  echo "base.sh: $image exists (--force rebuilds it)"
  exit 0
fi

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
t0=$(now)
root=$(mktemp -d /var/tmp/vertebra-base.XXXXXX)
cleanup() { rm -rf --one-file-system "$root"; }
trap cleanup EXIT
chmod 755 "$root"  # mktemp's 0700 would become the image's / and lock out non-root users

echo "base.sh: debootstrap --variant=minbase bookworm from $mirror"
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.log" 2>&1 ||
  { tail -20 "$root.log" >&2; rm -f "$root.log"; die "debootstrap failed"; }
rm -f "$root.log"
t_debootstrap=$(since "$t0")

# debootstrap leaves a one-line sources.list with main only and no updates or security; use the
# deb822 file the official debian:bookworm image has, so `apt-get upgrade` gets security fixes.
rm -f "$root/etc/apt/sources.list"
cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
# As in the official image: packages installed during a build must not start daemons, the
# downloaded .debs and translations are not kept, and documentation is not unpacked (as in
# debian:bookworm-slim; copyright files stay).
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
cat >"$root/etc/apt/apt.conf.d/90vertebra-container" <<'EOF'
Acquire::Languages "none";
APT::Install-Suggests "false";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
EOF
cat >"$root/etc/dpkg/dpkg.cfg.d/90vertebra-nodoc" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/apt/* "$root"/var/log/dpkg.log \
  "$root"/var/log/bootstrap.log "$root"/var/log/alternatives.log "$root"/var/cache/debconf/*-old \
  "$root"/usr/share/doc/*/changelog* "$root"/usr/share/man/* "$root"/usr/share/info/*
# The container engine provides these at run time; the host's copies must not end up in the image.
rm -f "$root/etc/resolv.conf" "$root/etc/hostname"
: >"$root/etc/machine-id"

t1=$(now)
tar --numeric-owner -C "$root" -c . |
  podman import --quiet --message "debootstrap --variant=minbase bookworm $mirror" \
    --change 'CMD ["/bin/bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    - "$image" >/dev/null || die "podman import failed"
t_import=$(since "$t1")

# apt must work inside: the sources, the keyring and the network from a container.
t2=$(now)
podman run --rm "$image" sh -c 'apt-get update -qq && apt-cache policy libtorch1.13 | sed -n 1,3p' ||
  die "apt-get update fails inside $image (network or sources); the image is left for inspection"
t_check=$(since "$t2")
echo "base.sh: $image: $(podman image inspect --format '{{.Size}}' "$image" | awk '{ printf "%.0f MB", $1 / 1e6 }')" \
  "(debootstrap ${t_debootstrap} s, import ${t_import} s, apt check ${t_check} s, total $(since "$t0") s)"
