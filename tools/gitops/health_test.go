package gitops

import (
	"os"
	"path/filepath"
	"testing"

	lua "github.com/yuin/gopher-lua"
	"sigs.k8s.io/yaml"
)

// healthRoot is where the checks live, in Argo CD's resource_customizations layout.
var healthRoot = filepath.Join("..", "..", "manifests", "argocd", "health")

type healthStatus struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

type healthTests struct {
	Tests []struct {
		HealthStatus healthStatus `json:"healthStatus"`
		InputPath    string       `json:"inputPath"`
	} `json:"tests"`
}

// newArgoState opens what Argo CD's Lua VM opens for a health check from argocd-cm (package, base, table,
// and a reduced os that we leave out, since no check of ours may need it): no string, math or io.
func newArgoState() *lua.LState {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
	} {
		l.Push(l.NewFunction(lib.open))
		l.Push(lua.LString(lib.name))
		l.Call(1, 0)
	}
	return l
}

// toLua converts decoded JSON (as Argo CD passes the live object) into Lua values.
func toLua(l *lua.LState, value interface{}) lua.LValue {
	switch v := value.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case map[string]interface{}:
		table := l.NewTable()
		for key, item := range v {
			table.RawSetString(key, toLua(l, item))
		}
		return table
	case []interface{}:
		table := l.NewTable()
		for _, item := range v {
			table.Append(toLua(l, item))
		}
		return table
	}
	panic("unexpected JSON value")
}

func runHealth(t *testing.T, script string, obj map[string]interface{}) healthStatus {
	t.Helper()
	l := newArgoState()
	defer l.Close()
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(script); err != nil {
		t.Fatalf("health.lua failed: %v", err)
	}
	table, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("health.lua returned %s, not a table", l.Get(-1).Type())
	}
	return healthStatus{
		Status:  lua.LVAsString(table.RawGetString("status")),
		Message: lua.LVAsString(table.RawGetString("message")),
	}
}

func readYAML(t *testing.T, path string, into interface{}) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestHealthChecksInArgoCDsLua(t *testing.T) {
	checks, err := filepath.Glob(filepath.Join(healthRoot, "*", "*", "health.lua"))
	if err != nil || len(checks) == 0 {
		t.Fatalf("no health.lua under %s (%v)", healthRoot, err)
	}
	for _, check := range checks {
		dir := filepath.Dir(check)
		script, err := os.ReadFile(check)
		if err != nil {
			t.Fatal(err)
		}
		var spec healthTests
		readYAML(t, filepath.Join(dir, "health_test.yaml"), &spec)
		if len(spec.Tests) == 0 {
			t.Fatalf("%s: no tests", dir)
		}
		for _, tc := range spec.Tests {
			name := filepath.Join(filepath.Base(dir), tc.InputPath)
			t.Run(name, func(t *testing.T) {
				var obj map[string]interface{}
				readYAML(t, filepath.Join(dir, tc.InputPath), &obj)
				if got := runHealth(t, string(script), obj); got != tc.HealthStatus {
					t.Errorf("got %+v\nwant %+v", got, tc.HealthStatus)
				}
			})
		}
	}
}

// The sandbox must refuse what Argo CD refuses, or the test above proves nothing about Argo CD.
func TestSandboxHasNoStringMathOrIO(t *testing.T) {
	for _, script := range []string{
		`return {status = string.upper("healthy")}`,
		`return {status = ("healthy"):upper()}`,
		`return {status = tostring(math.floor(1.5))}`,
		`return {status = io.read("*l")}`,
	} {
		l := newArgoState()
		if err := l.DoString(script); err == nil {
			t.Errorf("%s: ran, but Argo CD's sandbox would refuse it", script)
		}
		l.Close()
	}
}
