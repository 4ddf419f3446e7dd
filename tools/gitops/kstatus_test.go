package gitops

import (
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

// What kstatus (Flux's health checks, kpt, cli-utils' wait) must conclude from each object, all recorded
// from a real operator run by tests/gitops/record_status.py.
//
// A new object is InProgress from the moment it exists: the CRDs default status to
// {observedGeneration: 0}, the API server applies that default on every read, and kstatus calls an object
// whose observedGeneration differs from metadata.generation InProgress. (Without a status at all kstatus
// would call it Current, and Flux's wait would pass before the operator has even seen the object.)
var kstatusCases = []struct {
	file string
	want status.Status
}{
	{"TuningJob/testdata/progressing-not-observed.yaml", status.InProgressStatus},
	{"TuningJob/testdata/progressing-pending.yaml", status.InProgressStatus},
	{"TuningJob/testdata/progressing-running.yaml", status.InProgressStatus},
	{"TuningJob/testdata/progressing-api-error.yaml", status.InProgressStatus},
	{"TuningJob/testdata/progressing-new-generation.yaml", status.InProgressStatus},
	{"TuningJob/testdata/healthy-succeeded.yaml", status.CurrentStatus},
	{"TuningJob/testdata/degraded-failed.yaml", status.FailedStatus},
	{"TuningJob/testdata/degraded-permission-denied.yaml", status.FailedStatus},
	{"TunedModel/testdata/progressing-not-observed.yaml", status.InProgressStatus},
	{"TunedModel/testdata/progressing-creating.yaml", status.InProgressStatus},
	{"TunedModel/testdata/progressing-new-generation.yaml", status.InProgressStatus},
	{"TunedModel/testdata/healthy-active.yaml", status.CurrentStatus},
	{"TunedModel/testdata/degraded-failed.yaml", status.FailedStatus},
	{"TunedModel/testdata/degraded-secret-not-found.yaml", status.FailedStatus},
}

var kindsRoot = filepath.Join(healthRoot, "tuning.vertexops.dev")

func readObject(t *testing.T, path string) *unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	body, err := yaml.YAMLToJSON(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	// Unstructured decoding keeps integers as int64, as kstatus expects of generation fields.
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(body); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return obj
}

func TestKstatusReadsOurStatus(t *testing.T) {
	for _, tc := range kstatusCases {
		t.Run(tc.file, func(t *testing.T) {
			result, err := status.Compute(readObject(t, filepath.Join(kindsRoot, tc.file)))
			if err != nil {
				t.Fatal(err)
			}
			if result.Status != tc.want {
				t.Errorf("kstatus says %s (%s), want %s", result.Status, result.Message, tc.want)
			}
		})
	}
}

// Every recorded or hand-made object has a kstatus expectation, so a new recording cannot go untested.
func TestEveryTestdataFileHasAKstatusCase(t *testing.T) {
	listed := map[string]bool{}
	for _, tc := range kstatusCases {
		listed[tc.file] = true
	}
	files, err := filepath.Glob(filepath.Join(kindsRoot, "*", "testdata", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata under %s (%v)", kindsRoot, err)
	}
	for _, file := range files {
		rel, _ := filepath.Rel(kindsRoot, file)
		if !listed[filepath.ToSlash(rel)] {
			t.Errorf("%s has no kstatus expectation", rel)
		}
	}
}
