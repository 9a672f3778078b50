#!/usr/bin/env bash
# Prints, one a line, the Debian packages that hold the shared libraries a binary links directly
# (its ELF NEEDED entries, resolved with ldd, mapped with dpkg -S). The Containerfile runs it in
# the build stage and installs exactly these in the runtime stage; apt then brings what they
# depend on (LibTorch's OpenCV, FFmpeg, oneDNN, ...), so the list follows the binary when a
# library is added or dropped, and nothing from the build stage (-dev packages, compilers) leaks.
#
#   deploy/container/runtime-packages.sh BINARY [SKIP_REGEX]
#
# SKIP_REGEX: libraries whose resolved path or name matches (grep -E) are left out, for those
# the base image brings itself or the host injects (Containerfile.cuda: LibTorch and CUDA under
# /usr/local, the driver's libcuda.so.1). Fails when any other library is not found or belongs
# to no package (copied by hand, built locally): such a library would be missing at run time.
set -euo pipefail

die() { echo "runtime-packages.sh: $*" >&2; exit 1; }
if [ $# -lt 1 ] || [ $# -gt 2 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
  exit 2
fi
binary=$1
skip=${2:-}
[ -x "$binary" ] || die "$binary: not an executable"
command -v objdump >/dev/null || die "objdump is missing (binutils)"

skipped() { [ -n "$skip" ] && grep -Eq "$skip" <<<"$1"; }
resolved=$(ldd "$binary") || die "ldd $binary failed"
unresolved=$(awk '$3 == "not" && $4 == "found" { print $1 }' <<<"$resolved" | while read -r lib; do
  skipped "$lib" || echo "$lib"
done)
[ -z "$unresolved" ] || die "$binary: unresolved libraries: $(tr '\n' ' ' <<<"$unresolved")"

# dpkg records a library under the path its package ships (/lib/... for libc6, /usr/lib/... for
# most), while ldd may print either through the merged-/usr symlinks; try both spellings.
owner() {
  local p q
  for p in "$1" "$(realpath "$1")"; do
    for q in "$p" "/usr${p#/usr}" "${p#/usr}"; do
      dpkg -S "$q" 2>/dev/null | head -1 | cut -d: -f1 && return 0
    done
  done
  return 1
}

objdump -p "$binary" | awk '$1 == "NEEDED" { print $2 }' | while read -r lib; do
  skipped "$lib" && continue
  path=$(awk -v l="$lib" '$1 == l && $2 == "=>" { print $3 }' <<<"$resolved")
  [ -n "$path" ] || die "$lib: no path in ldd's output"
  skipped "$path" && continue
  pkg=$(owner "$path") || die "$lib ($path) belongs to no Debian package"
  echo "$pkg"
done | sort -u
