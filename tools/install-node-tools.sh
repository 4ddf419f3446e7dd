#!/usr/bin/env bash
# Installs what a real node needs beside tools/install-tools.sh's control plane, cached and keyed by version:
#   containerd, runc, CNI plugins, iptables, busybox-static, debootstrap   Debian packages (apt-get)
#   kubelet, kube-controller-manager, kube-scheduler, kube-proxy           built from the Go module proxy
#   the pause image (a static busybox `sleep`)                             an image archive for containerd
# Needs root (`binaries` does not). Progress on stderr; controller/testenv/nodetools.py resolves the same paths.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${VERTEXOPS_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vertexops/tools}
python=${PYTHON:-python3}
mkdir -p "$cache"

log() { printf 'install-node-tools: %s\n' "$*" >&2; }

install_debian_packages() {
  local packages=(containerd runc containernetworking-plugins iptables busybox-static debootstrap) missing=() p
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]} == 0)); then log "debian packages: installed"; return 0; fi
  log "debian packages: installing ${missing[*]}"
  # Another apt-get on the machine holds the lock for a while at most; wait for it instead of failing.
  apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
    "${missing[@]}" >&2
}

# The same throwaway wrapper module as install-tools.sh's kube-apiserver build (k8s.io/kubernetes cannot be
# `go install`ed: its go.mod replaces the staging modules), with the four node binaries in one `go get` and
# one `go build`: kube-proxy alone misses go.sum entries that the others bring.
build_node_binaries() {
  local v=$KUBERNETES_VERSION dest="$cache/kube-node-v$KUBERNETES_VERSION"
  local cmds=(kubelet kube-controller-manager kube-scheduler kube-proxy) c
  local have=1; for c in "${cmds[@]}"; do [[ -x "$dest/$c" ]] || have=0; done
  ((have)) && { log "kubelet, kube-controller-manager, kube-scheduler, kube-proxy v$v: cached"; return 0; }
  log "kubelet, kube-controller-manager, kube-scheduler, kube-proxy v$v: building (about 6 min on a cold cache)"
  local gomod; gomod=$(go mod download -json "k8s.io/kubernetes@v$v" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  local staging="v0.${v#1.}" m work pkgs=()
  for c in "${cmds[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  local vpkg=k8s.io/component-base/version major=${v%%.*} minor=${v#*.}; minor=${minor%%.*}
  work=$(mktemp -d)
  rm -rf "$dest.tmp"; mkdir -p "$dest.tmp"
  (
    cd "$work"
    go mod init vertexops.local/node-build >/dev/null 2>&1
    echo "require k8s.io/kubernetes v$v" >>go.mod
    printf 'replace (\n' >>go.mod
    for m in $(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\1#p' "$gomod"); do
      printf '\t%s => %s %s\n' "$m" "$m" "$staging" >>go.mod
    done
    printf ')\n' >>go.mod
    local pkg_at=(); for c in "${pkgs[@]}"; do pkg_at+=("$c@v$v"); done
    go get "${pkg_at[@]}" 2>&1 | grep -v '^go: \(downloading\|upgraded\|added\)' >&2 || true
    CGO_ENABLED=0 nice go build -trimpath -o "$dest.tmp/" \
      -ldflags "-s -w -X $vpkg.gitVersion=v$v -X $vpkg.gitMajor=$major -X $vpkg.gitMinor=$minor -X $vpkg.gitTreeState=clean" \
      "${pkgs[@]}"
  )
  rm -rf "$work"
  rm -rf "$dest"; mv "$dest.tmp" "$dest"
  log "node binaries v$v: built"
}

# The Pod sandbox image: containerd's sandbox_image must exist locally (there is no registry to pull from).
build_pause_image() {
  local version; version=$(dpkg-query -W -f='${Version}' busybox-static)
  local dest="$cache/pause-busybox-$version"
  [[ -f "$dest/pause.tar" ]] && { log "pause image (busybox $version): cached"; return 0; }
  local work; work=$(mktemp -d)
  mkdir -p "$work/rootfs/bin" "$dest"
  cp /bin/busybox "$work/rootfs/bin/busybox"
  tar -C "$work/rootfs" --sort=name --numeric-owner --owner=0 --group=0 --mtime=@0 -cf "$work/layer.tar" .
  "$python" "$here/image/archive.py" "$work/layer.tar" "$here/image/pause.Dockerfile" \
    "$PAUSE_IMAGE" "$dest/pause.tar" >&2
  rm -rf "$work"
  log "pause image (busybox $version): built"
}

# `binaries` builds only the Go binaries (the GitOps engine tests run kube-controller-manager's garbage
# collector and need nothing else of a node).
case ${1:-all} in
  all) install_debian_packages; build_pause_image; build_node_binaries ;;
  binaries) build_node_binaries ;;
  *) echo "usage: $0 [all|binaries]" >&2; exit 2 ;;
esac
log "node tools ready in $cache"
