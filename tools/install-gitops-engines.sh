#!/usr/bin/env bash
# Builds the GitOps engines that tests/gitops_engines runs for real, into the versioned tools cache, and
# reuses them when present:
#   argocd-v$ARGOCD_VERSION/       one slim binary linking only the application controller and the repo
#                                  server (it acts by the name it is called with), git-verify-wrapper.sh
#                                  (the repo server calls it on PATH) and Argo CD's CRDs
#   flux-v$SOURCE-v$KUSTOMIZE/     source-controller and kustomize-controller, built in one invocation so
#                                  they share every compiled dependency, and their CRDs
#   redis-server                   Debian's package (Argo CD's cache), installed with apt-get when missing
#   kube-controller-manager        for its garbage collector, which finishes the deletions the engines
#                                  prune; the same build and cache as tools/install-node-tools.sh's
# A user who already has the binaries points ARGOCD_BIN / FLUX_SOURCE_CONTROLLER_BIN /
# FLUX_KUSTOMIZE_CONTROLLER_BIN at them (controller/testenv/engine_tools.py reads the same variables).
# Builds run under `nice` so they leave the machine usable; progress goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${VERTEXOPS_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vertexops/tools}
mkdir -p "$cache"

log() { printf 'install-gitops-engines: %s\n' "$*" >&2; }

# versioned_replaces GOMOD: the replace directives of GOMOD that point to a module version (a wrapper
# module has to repeat them, since Go ignores the replaces of a dependency); local-path ones are left out.
versioned_replaces() {
  awk '
    /^replace[[:space:]]*\($/ { inblock = 1; next }
    inblock && /^\)/ { inblock = 0; next }
    { line = $0; sub(/\/\/.*/, "", line) }
    inblock || line ~ /^replace[[:space:]]/ {
      sub(/^replace[[:space:]]+/, "", line)
      n = split(line, f, /[[:space:]]+/)
      # "old => new version" (optionally "old version => new version"), skipping "old => ./path"
      for (i = 1; i <= n; i++) if (f[i] == "=>") arrow = i
      if (arrow && f[arrow + 2] ~ /^v/ && f[arrow + 1] !~ /^\./) print line
      arrow = 0
    }' "$1" | sed 's/^[[:space:]]*//; s/[[:space:]]*$//'
}

# gomod_of MODULE@VERSION: the path of the downloaded go.mod (downloads it when needed).
gomod_of() { go mod download -json "$1" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p'; }
moddir_of() { go mod download -json "$1" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'; }

# wrapper_build WORKDIR OUTDIR GET... -- PACKAGE...: in the prepared wrapper module, `go get` the GET
# arguments (package@version: only what those packages import is resolved, never their tests' modules,
# some of which the proxy does not serve), then build the packages. -mod=mod lets the build record the
# few imports of our own main that are already in the module graph (cobra, klog) at their selected versions.
wrapper_build() {
  local work=$1 out=$2; shift 2
  local get=()
  while (($#)) && [[ $1 != -- ]]; do get+=("$1"); shift; done
  shift
  (
    cd "$work"
    go get "${get[@]}" 2>&1 | grep -v '^go: \(downloading\|finding\|found\|added\|upgraded\)' >&2 || true
    CGO_ENABLED=0 nice -n 10 go build -mod=mod -trimpath -ldflags '-s -w' -o "$out/" "$@"
  )
}

build_argocd() {
  local v=$ARGOCD_VERSION dest="$cache/argocd-v$ARGOCD_VERSION"
  if [[ -n "${ARGOCD_BIN:-}" && -x "$ARGOCD_BIN" ]]; then log "argocd: using \$ARGOCD_BIN=$ARGOCD_BIN"; return 0; fi
  [[ -x "$dest/argocd" && -x "$dest/git-verify-wrapper.sh" ]] && { log "argocd v$v: cached"; return 0; }
  export GOTOOLCHAIN=$ARGOCD_GOTOOLCHAIN
  log "argocd v$v: building application controller + repo server with $GOTOOLCHAIN (10-15 min on a cold cache)"
  local mod=github.com/argoproj/argo-cd/v3 work; work=$(mktemp -d)
  local gomod dir; gomod=$(gomod_of "$mod@v$v"); dir=$(moddir_of "$mod@v$v")
  rm -rf "$dest.tmp"; mkdir -p "$dest.tmp/bin"
  (
    cd "$work"
    go mod init vertexops.local/argocd-engines >/dev/null 2>&1
    printf 'require %s v%s\n' "$mod" "$v" >>go.mod
    { printf 'replace (\n'; versioned_replaces "$gomod" | sed 's/^/\t/'; printf ')\n'; } >>go.mod
    mkdir -p cmd/argocd
    # Only the two commands the tests run: about a quarter less to compile than Argo CD's own main.
    # (No grpc.DisableSRVLookups() here: grpclb is not linked, so SRV lookups are already off.)
    cat >cmd/argocd/main.go <<'GO'
// Command argocd runs the Argo CD application controller or repo server, chosen by the name it is
// called with (as Argo CD's own binary does).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	appcontroller "github.com/argoproj/argo-cd/v3/cmd/argocd-application-controller/commands"
	reposerver "github.com/argoproj/argo-cd/v3/cmd/argocd-repo-server/commands"
	"github.com/argoproj/argo-cd/v3/common"
	"github.com/argoproj/argo-cd/v3/util/log"
)

func init() {
	klog.SetLogger(log.NewLogrusLogger(log.NewWithCurrentConfig()))
}

func main() {
	name := filepath.Base(os.Args[0])
	if val := os.Getenv("ARGOCD_BINARY_NAME"); val != "" {
		name = val
	}
	var command *cobra.Command
	switch name {
	case common.CommandApplicationController:
		command = appcontroller.NewCommand()
	case common.CommandRepoServer:
		command = reposerver.NewCommand()
	default:
		fmt.Fprintf(os.Stderr, "%s: call me as %s or %s\n", name, common.CommandApplicationController, common.CommandRepoServer)
		os.Exit(2)
	}
	if err := command.Execute(); err != nil {
		os.Exit(1)
	}
}
GO
  )
  wrapper_build "$work" "$dest.tmp/bin" \
    "$mod/cmd/argocd-application-controller/commands@v$v" "$mod/cmd/argocd-repo-server/commands@v$v" \
    -- ./cmd/argocd
  mv "$dest.tmp/bin/argocd" "$dest.tmp/argocd"; rmdir "$dest.tmp/bin"
  ln -s argocd "$dest.tmp/argocd-application-controller"
  ln -s argocd "$dest.tmp/argocd-repo-server"
  install -m 0755 "$dir/hack/git-verify-wrapper.sh" "$dest.tmp/git-verify-wrapper.sh"
  mkdir -p "$dest.tmp/crds"; cp "$dir"/manifests/crds/*-crd.yaml "$dest.tmp/crds/"
  rm -rf "$work" "$dest"; mv "$dest.tmp" "$dest"
  unset GOTOOLCHAIN
  log "argocd v$v: built"
}

build_flux() {
  local sv=$FLUX_SOURCE_CONTROLLER_VERSION kv=$FLUX_KUSTOMIZE_CONTROLLER_VERSION
  local dest="$cache/flux-source-v$sv-kustomize-v$kv"
  if [[ -n "${FLUX_SOURCE_CONTROLLER_BIN:-}" && -n "${FLUX_KUSTOMIZE_CONTROLLER_BIN:-}" ]]; then
    log "flux: using \$FLUX_SOURCE_CONTROLLER_BIN and \$FLUX_KUSTOMIZE_CONTROLLER_BIN"; return 0
  fi
  [[ -x "$dest/source-controller" && -x "$dest/kustomize-controller" ]] && { log "flux source v$sv, kustomize v$kv: cached"; return 0; }
  log "flux source-controller v$sv + kustomize-controller v$kv: building (5-10 min on a cold cache)"
  local src=github.com/fluxcd/source-controller kus=github.com/fluxcd/kustomize-controller work
  work=$(mktemp -d)
  local src_mod kus_mod src_dir kus_dir
  src_mod=$(gomod_of "$src@v$sv"); kus_mod=$(gomod_of "$kus@v$kv")
  src_dir=$(moddir_of "$src@v$sv"); kus_dir=$(moddir_of "$kus@v$kv")
  rm -rf "$dest.tmp"; mkdir -p "$dest.tmp/crds"
  (
    cd "$work"
    go mod init vertexops.local/flux-engines >/dev/null 2>&1
    printf 'require (\n\t%s v%s\n\t%s v%s\n)\n' "$src" "$sv" "$kus" "$kv" >>go.mod
    {
      printf 'replace (\n'
      { versioned_replaces "$src_mod"; versioned_replaces "$kus_mod"
        echo "github.com/fluxcd/pkg/artifact => github.com/fluxcd/pkg/artifact $FLUX_PKG_ARTIFACT_REPLACE"; } |
        sort -u | sed 's/^/\t/'
      printf ')\n'
    } >>go.mod
  )
  wrapper_build "$work" "$dest.tmp" "$src@v$sv" "$kus@v$kv" -- "$src" "$kus"
  cp "$src_dir"/config/crd/bases/*.yaml "$kus_dir"/config/crd/bases/*.yaml "$dest.tmp/crds/"
  chmod -R u+w "$dest.tmp/crds"
  rm -rf "$work" "$dest"; mv "$dest.tmp" "$dest"
  log "flux source v$sv, kustomize v$kv: built"
}

install_redis() {
  command -v redis-server >/dev/null && { log "redis-server: $(command -v redis-server)"; return 0; }
  log "redis-server: installing Debian's package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends redis-server >/dev/null 2>&1 ||
    { apt-get update >/dev/null && apt-get install -y --no-install-recommends redis-server >/dev/null; }
}

what=${1:-all}
case $what in
  argocd) install_redis; build_argocd ;;
  flux) build_flux ;;
  gc) bash "$here/install-node-tools.sh" binaries ;;
  all) install_redis; build_flux; build_argocd; bash "$here/install-node-tools.sh" binaries ;;
  *) echo "usage: $0 [all|argocd|flux|gc]" >&2; exit 2 ;;
esac
log "engines ready in $cache"
