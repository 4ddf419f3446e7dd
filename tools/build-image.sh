#!/usr/bin/env bash
# Builds the operator's image without Docker or a registry, as an OCI archive that `ctr images import` (and
# `docker load`) read, tagged <chart image.repository>:<chart appVersion>:
#   1. a Debian root filesystem from debootstrap (minbase + python3), cached by suite and package list;
#   2. a virtual environment at /opt/vertexops with the package and the pinned dependencies of
#      constraints.txt, installed from wheels built outside the root filesystem (no compiler, no pip cache,
#      no source tree in the image; pip and setuptools removed from the venv afterwards, as in the Dockerfile);
#   3. one layer of that tree and an image config read from the Dockerfile's last stage (user, entry point,
#      command, environment, labels), so the two ways of building the image stay in step.
# The archive is cached outside the repository, keyed by every input (sources, pins, this script), and reused.
# Prints the archive's path on stdout; progress goes to stderr. Needs root (debootstrap, chroot).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${VERTEXOPS_IMAGES_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vertexops/images}
python=${PYTHON:-python3}
mkdir -p "$cache"

log() { printf 'build-image: %s\n' "$*" >&2; }

app_version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$root/charts/vertexops/Chart.yaml")
repository=$(awk '/^image:/{i=1;next} i&&/^[^ ]/{i=0} i&&$1=="repository:"{print $2;exit}' "$root/charts/vertexops/values.yaml")
ref="$repository:$app_version"

# Every input of the image; a change to any of them gives a new key and so a new archive.
inputs_key() {
  (
    cd "$root"
    printf '%s\n' "$IMAGE_DEBIAN_SUITE" "$IMAGE_DEBIAN_PACKAGES" "$ref"
    find controller emulator -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 | sort -z \
      | xargs -0 sha256sum
    sha256sum pyproject.toml constraints.txt README.md Dockerfile tools/build-image.sh tools/image/archive.py
  ) | sha256sum | cut -c1-16
}

key=$(inputs_key)
archive="$cache/vertexops-$app_version-$key.tar"
if [[ -f $archive ]]; then
  touch "$archive" # marks it as in use, so that no other build prunes it (below)
  log "$ref: cached ($archive)"
  echo "$archive"
  exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/vertexops-image.XXXXXX")
trap 'rm -rf "$work"' EXIT

# -- 1. the Debian root filesystem ------------------------------------------------------------------------
base_key=$(printf '%s\n' "$IMAGE_DEBIAN_SUITE" "$IMAGE_DEBIAN_PACKAGES" | sha256sum | cut -c1-16)
base="$cache/rootfs-$IMAGE_DEBIAN_SUITE-$base_key.tar"
if [[ ! -f $base ]]; then
  command -v debootstrap >/dev/null || { log "debootstrap is missing (apt-get install debootstrap)"; exit 1; }
  log "debian $IMAGE_DEBIAN_SUITE root filesystem: debootstrap (a few minutes on a cold cache)"
  debootstrap --variant=minbase --include="${IMAGE_DEBIAN_PACKAGES// /,}" \
    "$IMAGE_DEBIAN_SUITE" "$work/base" ${DEBIAN_MIRROR:+"$DEBIAN_MIRROR"} >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  tar -C "$work/base" --numeric-owner -cf "$base.partial.$$" .
  mv "$base.partial.$$" "$base"
  rm -rf "$work/base"
else
  log "debian $IMAGE_DEBIAN_SUITE root filesystem: cached"
fi

rootfs="$work/rootfs"
mkdir -p "$rootfs"
tar -C "$rootfs" --numeric-owner -xf "$base"

# -- 2. the virtual environment ---------------------------------------------------------------------------
# Wheels of the package and of its runtime dependencies at the pinned versions, built with the host's pip
# (and its cache) for the image's Python: no build tool and no source file ever enters the root filesystem.
image_python=$(chroot "$rootfs" /usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
host_python=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
[[ $image_python == "$host_python" ]] || { log "host $python is $host_python, the image's is $image_python"; exit 1; }
log "wheels of vertexops $app_version and its pinned dependencies"
mkdir -p "$work/src"
cp -r "$root/pyproject.toml" "$root/constraints.txt" "$root/README.md" "$root/controller" "$root/emulator" "$work/src/"
find "$work/src" -name __pycache__ -prune -exec rm -rf {} +
"$python" -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$rootfs/tmp/wheels" \
  --constraint "$work/src/constraints.txt" "$work/src" >&2
log "virtual environment /opt/vertexops"
# A clean environment inside: none of the host's PIP_* or PYTHON* settings may leak into the image's venv.
in_root() { chroot "$rootfs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }
in_root /usr/bin/python3 -m venv /opt/vertexops
in_root PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
  /opt/vertexops/bin/python -m pip install --quiet --no-index --find-links /tmp/wheels vertexops >&2
in_root /opt/vertexops/bin/python -m pip uninstall --quiet --yes pip setuptools >&2
# As the Dockerfile: the kubernetes client's asyncio copy (a quarter of the image) is never imported.
rm -rf "$rootfs/opt/vertexops/lib/python$image_python/site-packages/kubernetes/aio"
in_root /opt/vertexops/bin/vertexops run --help >/dev/null

# What an operator never reads: docs, man pages, translations, package lists, logs, the wheels, the venv
# seeding wheels; /dev, /proc, /run and /tmp are the runtime's.
rm -rf "$rootfs"/tmp/* "$rootfs"/root/.cache "$rootfs"/usr/share/{doc,man,info,locale,lintian,linda} \
  "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/cache/debconf/*-old \
  "$rootfs"/var/log/* "$rootfs"/usr/share/python-wheels "$rootfs"/dev/* "$rootfs"/run/* \
  "$rootfs"/etc/machine-id

# -- 3. the layer and the archive -------------------------------------------------------------------------
log "layer and archive"
tar -C "$rootfs" --sort=name --numeric-owner --mtime=@0 --clamp-mtime --pax-option=delete=atime,delete=ctime \
  -cf "$work/layer.tar" .
"$python" "$here/image/archive.py" "$work/layer.tar" "$root/Dockerfile" "$ref" "$work/image.tar" >&2
mv "$work/image.tar" "$archive.partial.$$"
mv "$archive.partial.$$" "$archive"
# Archives of other inputs that nothing built or reused for a day are superseded. Not sooner: other
# checkouts of the project (or a test session still importing its image) share this cache.
find "$cache" -maxdepth 1 -name "vertexops-*.tar" ! -name "$(basename "$archive")" -mmin +1440 -delete
log "$ref: $(du -m "$archive" | cut -f1) MiB uncompressed, $archive"
echo "$archive"
