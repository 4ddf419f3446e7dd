// Package gitops holds no code of its own: its tests run the vertexops health checks in the engines the
// GitOps tools really use.
//
//   - health_test.go runs manifests/argocd/health/*/*/health.lua in gopher-lua, the Lua that Argo CD
//     embeds, with the libraries Argo CD opens for custom health checks, against each health_test.yaml.
//   - kstatus_test.go runs sigs.k8s.io/cli-utils' kstatus, which Flux's health checks and `kubectl wait`
//     style tools use, on the same recorded objects.
//
// Run with `go test ./...` here (tests/gitops/test_go_checks.py does it for CI).
package gitops
