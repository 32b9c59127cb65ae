package mutate_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
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

// maxPeakRSS is what one admission of the worst pod may take the whole process to.
const maxPeakRSS = 128 << 20

// TestPeakRSS sends each worst-case admission body through the real handler
// (controller-runtime's review decoding, Decode, Pod, the response) in a fresh process and
// reads the process's peak resident set (VmHWM). Before the limits, the nested-if pod alone
// took the webhook from 92 MB to 516 MB.
func TestPeakRSS(t *testing.T) {
	if file := os.Getenv("VI_RSS_BODY"); file != "" {
		runRSSCase(t, file)
		return
	}
	if testing.Short() {
		t.Skip("starts a process per case")
	}
	for name, body := range rssCases {
		t.Run(name, func(t *testing.T) {
			// The child only reads the body, as the server would, so its baseline is not the
			// cost of building it.
			file := filepath.Join(t.TempDir(), "body.json")
			if err := os.WriteFile(file, body(), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestPeakRSS$", "-test.count=1")
			cmd.Env = append(os.Environ(), "VI_RSS_BODY="+file)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v:\n%s", err, out)
			}
			m := regexp.MustCompile(`peak-rss=(\d+) before=(\d+) body=(\d+)`).FindSubmatch(out)
			if m == nil {
				t.Fatalf("no measurement in:\n%s", out)
			}
			peak, _ := strconv.Atoi(string(m[1]))
			before, _ := strconv.Atoi(string(m[2]))
			t.Logf("body %s bytes: peak RSS %.1f MiB (%.1f MiB before the admission)", m[3], mib(peak), mib(before))
			if peak > maxPeakRSS {
				t.Errorf("peak RSS %.1f MiB, over %.0f MiB", mib(peak), mib(maxPeakRSS))
			}
		})
	}
}

func mib(n int) float64 { return float64(n) / (1 << 20) }

// rssCases are the most expensive bodies the limits allow, and the attack that set them.
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
	// The most secrets, each with a template, admitted.
	"most-secrets": func() []byte {
		a := map[string]string{}
		for i := range annotations.MaxSecrets {
			a[fmt.Sprintf("secret-s%03d", i)] = "kv/app/s"
			a[fmt.Sprintf("template-s%03d", i)] = strings.Repeat("{{ .Data.k }}", 80)
		}
		return podBody(a)
	},
}

func podBody(extra map[string]string) []byte {
	a := map[string]string{contract.AnnotationInject: "true", contract.AnnotationRole: "r", contract.AnnotationSecretPrefix + "db": "kv/db"}
	for k, v := range extra {
		a[contract.Prefix+k] = v
	}
	pod, err := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "p", "annotations": a},
		"spec":     map[string]any{"containers": []any{map[string]any{"name": "app", "image": "app"}}},
	})
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

func runRSSCase(t *testing.T, file string) {
	body, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	before := vmHWM(t)
	d := mutate.NewDefaults()
	d.VaultAddr, d.AgentImage = "https://vault:8200", "agent:v1"
	hook := &server.Handler{Defaults: d, Metrics: server.NewMetrics(prometheus.NewRegistry()), Log: slog.New(slog.DiscardHandler)}
	for range 3 {
		req := httptest.NewRequest(http.MethodPost, "/mutate", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		hook.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d", rec.Code)
		}
	}
	fmt.Printf("peak-rss=%d before=%d body=%d\n", vmHWM(t), before, len(body))
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
