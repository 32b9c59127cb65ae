package mutate_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/webhook/annotations"
	"github.com/vault-injector/vault-injector/webhook/mutate"
	"github.com/vault-injector/vault-injector/webhook/server"
)

// maxPeakRSS is what one admission of the worst pod may take the whole process to, and
// maxPeakRSS4 four admissions of it at once (a replica serves several; see server.onWorker).
const (
	maxPeakRSS  = 128 << 20
	maxPeakRSS4 = 256 << 20
)

// TestPeakRSS sends each worst-case admission body through the real handler (the review's
// decoding, Decode, Pod, the response) in a fresh process and reads the process's peak
// resident set (VmHWM), once with one admission at a time and once with four at once. Before
// the limits, the nested-if pod alone took the webhook from 92 MB to 516 MB.
func TestPeakRSS(t *testing.T) {
	if file := os.Getenv("VI_RSS_BODY"); file != "" {
		runRSSCase(t, file, os.Getenv("VI_RSS_CONCURRENT"))
		return
	}
	if testing.Short() {
		t.Skip("starts a process per case")
	}
	for name, body := range rssCases {
		admitted := strings.HasPrefix(name, "most-")
		// The child only reads the body, as the server would, so its baseline is not the cost
		// of building it.
		file := filepath.Join(t.TempDir(), name+".json")
		if err := os.WriteFile(file, body(), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			concurrent int
			limit      int
		}{{1, maxPeakRSS}, {4, maxPeakRSS4}} {
			t.Run(fmt.Sprintf("%s/%d-at-once", name, c.concurrent), func(t *testing.T) {
				measureRSS(t, file, c.concurrent, c.limit, admitted)
			})
		}
	}
}

// measureRSS runs the admissions of the body in file in a child process, concurrent of them at
// once, and wants its peak RSS under limit and each answer as admitted says.
func measureRSS(t *testing.T, file string, concurrent, limit int, admitted bool) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestPeakRSS$", "-test.count=1")
	cmd.Env = append(os.Environ(), "VI_RSS_BODY="+file, "VI_RSS_CONCURRENT="+strconv.Itoa(concurrent))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	m := regexp.MustCompile(`peak-rss=(\d+) before=(\d+) body=(\d+) allowed=(\w+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no measurement in:\n%s", out)
	}
	peak, _ := strconv.Atoi(string(m[1]))
	before, _ := strconv.Atoi(string(m[2]))
	t.Logf("body %s bytes, %d at once: peak RSS %.1f MiB (%.1f MiB before the admissions)", m[3], concurrent, mib(peak), mib(before))
	if got := string(m[4]) == "true"; got != admitted {
		t.Errorf("admitted %v, want %v", got, admitted)
	}
	if peak > limit {
		t.Errorf("peak RSS %.1f MiB, over %.0f MiB", mib(peak), mib(limit))
	}
}

func mib(n int) float64 { return float64(n) / (1 << 20) }

// rssCases are the most expensive bodies the limits allow, and the attacks that set them; a
// case named most-* is admitted, every other one refused.
var rssCases = map[string]func() []byte{
	// 2.85 MB: one template nesting {{if}} 190000 deep.
	"nested-if-attack": func() []byte {
		return podBody(map[string]string{"template-db": strings.Repeat("{{if .}}", 190000) + strings.Repeat("{{end}}", 190000)})
	},
	// controller-runtime reads at most 7 MiB of body; Decode then refuses the pod unread.
	"largest-body": func() []byte {
		return podBody(map[string]string{"role": strings.Repeat("r", 7<<20-4096)})
	},
	// Just under the annotation limit: templates of dense actions at the depth limit, all parsed.
	"densest-templates": func() []byte {
		a := map[string]string{}
		unit := strings.Repeat("{{if .}}", annotations.MaxTemplateDepth) + strings.Repeat("{{end}}", annotations.MaxTemplateDepth)
		for i := range 4 {
			tmpl := strings.Repeat(unit, (annotations.MaxTemplateBytes-1024)/len(unit))
			a[fmt.Sprintf("secret-t%d", i)] = "kv/t"
			a[fmt.Sprintf("template-t%d", i)] = tmpl
		}
		return podBody(a)
	},
	// 3 MiB of trivial containers: decoded, planned and patched, each cost the webhook about
	// 3 KiB, 472 MiB for this pod alone (1.6 GiB for four at once) before the list bounds.
	"many-containers-attack": func() []byte {
		return podBodySpec(nil, map[string]any{"containers": filler(func(i int) any { return map[string]any{"name": "c" + strconv.Itoa(i)} })})
	},
	// Every list at its bound, and a volume path that takes the patch near its own.
	"most-containers": func() []byte {
		var volumes []any
		for i := range mutate.MaxVolumes {
			volumes = append(volumes, map[string]any{"name": "v" + strconv.Itoa(i), "emptyDir": map[string]any{}})
		}
		list := func(prefix string) []any {
			var out []any
			for i := range mutate.MaxContainers {
				var mounts []any
				for j := range mutate.MaxMounts / (3 * mutate.MaxContainers) {
					mounts = append(mounts, map[string]any{"name": "v" + strconv.Itoa(j), "mountPath": "/m/" + strconv.Itoa(j)})
				}
				out = append(out, map[string]any{"name": prefix + strconv.Itoa(i), "image": "app", "volumeMounts": mounts})
			}
			return out
		}
		return podBodySpec(map[string]string{"volume-path": "/vault/" + strings.Repeat("s", 2600)},
			map[string]any{"initContainers": list("i"), "containers": list("c"), "ephemeralContainers": list("e"), "volumes": volumes})
	},
	// 3 MiB of ports of one container: not bounded (a media server declares thousands), and
	// each costs little more than its JSON.
	"most-ports": func() []byte {
		return podBodySpec(nil, map[string]any{"containers": []any{map[string]any{"name": "app", "image": "app",
			"ports": filler(func(i int) any { return map[string]any{"containerPort": 1 + i%65535} })}}})
	},
	// 3 MiB of short annotations and of short labels: refused by the annotation budget, and
	// labels have no bound but the pod's size.
	"many-annotations": func() []byte {
		return podBodyMeta("annotations")
	},
	"many-labels": func() []byte {
		return podBodyMeta("labels")
	},
	// The most secrets, each with a template, admitted (podBody has one already).
	"most-secrets": func() []byte {
		a := map[string]string{}
		for i := range annotations.MaxSecrets - 1 {
			a[fmt.Sprintf("secret-s%03d", i)] = "kv/app/s"
			a[fmt.Sprintf("template-s%03d", i)] = strings.Repeat("{{ .Data.k }}", 80)
		}
		return podBody(a)
	},
}

// filler is as many elements made by item as fit in a pod of mutate.MaxPodBytes, with room
// for the rest of the pod.
func filler(item func(i int) any) []any {
	var out []any
	size := 4096
	for i := 0; ; i++ {
		b, err := json.Marshal(item(i))
		if err != nil {
			panic(err)
		}
		if size += len(b) + 1; size > mutate.MaxPodBytes {
			return out
		}
		out = append(out, item(i))
	}
}

// podBodyMeta is an opted-in pod whose annotations or labels (field) fill it with short
// entries.
func podBodyMeta(field string) []byte {
	m := map[string]string{}
	for i := range (mutate.MaxPodBytes - 4096) / 12 {
		m[strconv.Itoa(100000+i)] = ""
	}
	a := optIn()
	meta := map[string]any{"name": "p", "annotations": a}
	if field == "labels" {
		meta["labels"] = m
	} else {
		maps.Copy(a, m)
	}
	return reviewOf(map[string]any{"metadata": meta, "spec": map[string]any{"containers": []any{map[string]any{"name": "app", "image": "app"}}}})
}

func optIn() map[string]string {
	return map[string]string{contract.AnnotationInject: "true", contract.AnnotationRole: "r", contract.AnnotationSecretPrefix + "db": "kv/db"}
}

func podBody(extra map[string]string) []byte {
	return podBodySpec(extra, map[string]any{"containers": []any{map[string]any{"name": "app", "image": "app"}}})
}

// podBodySpec is the admission review of an opted-in pod with the extra annotations (without
// their prefix) and spec.
func podBodySpec(extra map[string]string, spec map[string]any) []byte {
	a := optIn()
	for k, v := range extra {
		a[contract.Prefix+k] = v
	}
	return reviewOf(map[string]any{"metadata": map[string]any{"name": "p", "annotations": a}, "spec": spec})
}

// reviewOf is the admission review of a pod's create.
func reviewOf(obj map[string]any) []byte {
	obj["apiVersion"], obj["kind"] = "v1", "Pod"
	pod, err := json.Marshal(obj)
	if err != nil {
		panic(err)
	}
	ar, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: "uid", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Operation: admissionv1.Create,
			Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"}, Namespace: "ns",
			Object: runtime.RawExtension{Raw: pod},
		},
	})
	if err != nil {
		panic(err)
	}
	return ar
}

// runRSSCase is the child: three rounds of concurrent admissions of the body in file, started
// together.
func runRSSCase(t *testing.T, file, concurrent string) {
	body, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(concurrent)
	if err != nil || n < 1 {
		t.Fatalf("VI_RSS_CONCURRENT=%q", concurrent)
	}
	before := vmHWM(t)
	d := mutate.NewDefaults()
	d.VaultAddr, d.AgentImage = "https://vault:8200", "agent:v1"
	hook := &server.Handler{Defaults: d, Metrics: server.NewMetrics(prometheus.NewRegistry()), Log: slog.New(slog.DiscardHandler)}
	allowed := false
	for range 3 {
		var wg sync.WaitGroup
		codes := make([]int, n)
		answers := make([][]byte, n)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				req := httptest.NewRequest(http.MethodPost, "/mutate", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				<-start
				hook.ServeHTTP(rec, req)
				codes[i], answers[i] = rec.Code, rec.Body.Bytes()
			})
		}
		close(start)
		wg.Wait()
		for i, c := range codes {
			var rv admissionv1.AdmissionReview
			if err := json.Unmarshal(answers[i], &rv); c != http.StatusOK || err != nil || rv.Response == nil {
				t.Fatalf("status %d, %v", c, err)
			}
			allowed = rv.Response.Allowed && len(rv.Response.Patch) > 0
		}
	}
	fmt.Printf("peak-rss=%d before=%d body=%d allowed=%v\n", vmHWM(t), before, len(body), allowed)
}

func vmHWM(t *testing.T) int {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status:", err)
	}
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(status)
	if m == nil {
		t.Fatal("no VmHWM")
	}
	kb, _ := strconv.Atoi(string(m[1]))
	return kb << 10
}
