package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/test/cluster"
	"github.com/vault-injector/vault-injector/test/stack"
)

// stormPlan is a bounded burst of opted-in pod creations from parallel clients: server-side
// dry runs (admission runs in full, nothing is stored) plus a few real pods that must start
// with their secrets. disrupt runs once, when atFraction of the creations are done.
type stormPlan struct {
	ns         string
	total      int
	workers    int
	realPods   int
	atFraction float64
	deadline   time.Duration
	disrupt    func(ctx context.Context) error
}

type stormResult struct {
	sent, refused, uninjected int
	// cut are requests the storm's own time bound ended, not refusals.
	cut         int
	errSamples  map[string]int
	latencies   []time.Duration
	elapsed     time.Duration
	realNames   []string
	disruptedAt int
}

func (r stormResult) quantile(q float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	return r.latencies[int(q*float64(len(r.latencies)-1))]
}

func (r stormResult) String() string {
	return fmt.Sprintf("%d creations (%d real) in %s (%.0f/s), disruption after %d: refused %d, admitted without injection %d, latency p50 %s p99 %s",
		r.sent, len(r.realNames), r.elapsed.Round(100*time.Millisecond), float64(r.sent)/r.elapsed.Seconds(), r.disruptedAt,
		r.refused, r.uninjected, r.quantile(0.5).Round(100*time.Microsecond), r.quantile(0.99).Round(100*time.Microsecond))
}

// fastClient is an admin client without client-side rate limiting: the storm's pace is the
// API server's and the webhook's, not client-go's.
func fastClient(t *testing.T) *kubernetes.Clientset {
	cfg := st.Cluster.RESTConfig()
	cfg.QPS, cfg.Burst, cfg.Timeout = 10000, 10000, 30*time.Second
	// Protobuf, as controllers talk: cheaper for the API server and this client than JSON.
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func runStorm(ctx context.Context, t *testing.T, p stormPlan) stormResult {
	t.Helper()
	cs := fastClient(t)
	ctx, cancel := context.WithTimeout(ctx, p.deadline)
	defer cancel()
	every := p.total / max(p.realPods, 1)
	jobs := make(chan int)
	var (
		mu       sync.Mutex
		res      = stormResult{errSamples: map[string]int{}}
		done     atomic.Int64
		disrupt  sync.Once
		disrupts = make(chan error, 1)
	)
	began := time.Now()
	var wg sync.WaitGroup
	for range p.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				real := p.realPods > 0 && i%every == every/2
				pod := stormPod(i, real)
				opts := metav1.CreateOptions{}
				if !real {
					opts.DryRun = []string{metav1.DryRunAll}
				}
				start := time.Now()
				out, err := cs.CoreV1().Pods(p.ns).Create(ctx, pod, opts)
				took := time.Since(start)
				mu.Lock()
				res.sent++
				switch {
				case err != nil && ctx.Err() != nil:
					res.cut++
				case err != nil:
					res.refused++
					msg := err.Error()
					if len(msg) > 160 {
						msg = msg[:160]
					}
					res.errSamples[msg]++
				case !injected(out):
					res.uninjected++
				default:
					res.latencies = append(res.latencies, took)
					if real {
						res.realNames = append(res.realNames, out.Name)
					}
				}
				mu.Unlock()
				if n := done.Add(1); p.disrupt != nil && float64(n) >= p.atFraction*float64(p.total) {
					disrupt.Do(func() {
						res.disruptedAt = int(n)
						go func() { disrupts <- p.disrupt(ctx) }()
					})
				}
			}
		}()
	}
	for i := 0; i < p.total && ctx.Err() == nil; i++ {
		select {
		case jobs <- i:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	res.elapsed = time.Since(began)
	if p.disrupt != nil {
		if err := <-disrupts; err != nil {
			t.Errorf("disruption: %v", err)
		}
	}
	if ctx.Err() != nil {
		t.Errorf("storm cut short by its %s bound after %d creations (%d in flight)", p.deadline, res.sent, res.cut)
	}
	sort.Slice(res.latencies, func(i, j int) bool { return res.latencies[i] < res.latencies[j] })
	return res
}

func injected(p *corev1.Pod) bool {
	if p.Annotations[contract.AnnotationStatus] != contract.StatusInjected {
		return false
	}
	for _, c := range p.Spec.InitContainers {
		if c.Name == contract.AgentContainer {
			return true
		}
	}
	return false
}

// stormSecret is what the storm's real pods must read.
const stormSecret = "storm-db-password"

func stormPod(i int, real bool) *corev1.Pod {
	tmpl := template("storm", annotations("secret-db", stack.SecretPrefix+"storm", "format-db", "raw:password"),
		`cat /vault/secrets/db; echo; echo read-done; trap 'exit 0' TERM; while true; do sleep 1; done`)
	if !real {
		tmpl.Spec.Containers[0].Command = []string{"/bin/true"}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "storm-" + strconv.Itoa(i), Labels: tmpl.Labels, Annotations: tmpl.Annotations},
		Spec:       tmpl.Spec,
	}
}

// checkRealPods waits for every real storm pod to log its secret.
func checkRealPods(ctx context.Context, t *testing.T, ns string, names []string) {
	t.Helper()
	for _, name := range names {
		if _, err := st.Cluster.WaitForPodReady(ctx, ns, name); err != nil {
			t.Errorf("storm pod %s: %v\n%s", name, err, agentLog(ns, name))
			continue
		}
		if log := waitLog(ctx, t, ns, name, "app", "read-done"); !strings.Contains(log, stormSecret) {
			t.Errorf("storm pod %s did not read its secret:\n%s", name, log)
		}
	}
}

// webhookRequests sums controller_runtime_webhook_requests_total on one replica's /metrics.
func webhookRequests(ctx context.Context, pod corev1.Pod) (float64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(pod.Status.PodIP, "8080")+"/metrics", nil)
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "controller_runtime_webhook_requests_total{") || !strings.Contains(line, `webhook="/mutate"`) {
			continue
		}
		f := strings.Fields(line)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		sum += v
	}
	return sum, sc.Err()
}

// replicaLoad is each replica's count of admissions served, by pod name.
func replicaLoad(ctx context.Context, t *testing.T, pods []corev1.Pod) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, p := range pods {
		n, err := webhookRequests(ctx, p)
		if err != nil {
			t.Errorf("metrics of %s: %v", p.Name, err)
		}
		out[p.Name] = n
	}
	return out
}

// procOf is the host PID of a webhook pod's container.
func procOf(ctx context.Context, t *testing.T, pod corev1.Pod) int {
	t.Helper()
	if len(pod.Status.ContainerStatuses) == 0 {
		t.Fatalf("pod %s has no container status", pod.Name)
	}
	pid, err := st.Cluster.ContainerPID(ctx, pod.Status.ContainerStatuses[0].ContainerID)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func procStats(t *testing.T, pid int) cluster.ProcStats {
	t.Helper()
	s, err := cluster.ReadProcStats(pid)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
