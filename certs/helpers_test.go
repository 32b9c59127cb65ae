package certs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/vault-injector/vault-injector/test/background"
)

// logBuffer collects a Manager's log lines so tests can assert on them.
type logBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (b *logBuffer) logger(t *testing.T, name string) logr.Logger {
	return funcr.New(func(prefix, args string) {
		line := prefix + " " + args
		b.mu.Lock()
		b.lines = append(b.lines, line)
		b.mu.Unlock()
		if testing.Verbose() {
			t.Log(line)
		}
	}, funcr.Options{Verbosity: 1}).WithName(name)
}

// count returns how many lines contain every one of substrs.
func (b *logBuffer) count(substrs ...string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
next:
	for _, l := range b.lines {
		for _, s := range substrs {
			if !strings.Contains(l, s) {
				continue next
			}
		}
		n++
	}
	return n
}

func (b *logBuffer) all() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines, "\n")
}

// clientsOf gives a Manager the two clients it uses out of the tests' clientset.
func clientsOf(client kubernetes.Interface) Clients {
	return Clients{Secrets: client.CoreV1(), WebhookConfigs: client.AdmissionregistrationV1()}
}

// startManager runs a Manager until the test ends and waits until it is ready.
func startManager(t *testing.T, client kubernetes.Interface, opts Options) *Manager {
	t.Helper()
	m, err := NewManager(clientsOf(client), opts)
	if err != nil {
		t.Fatalf("NewManager: %v", err)
	}
	background.Start(t, m.Run).AwaitReady(m.Ready(), 30*time.Second)
	return m
}

func createNamespace(t *testing.T, client kubernetes.Interface, name string) {
	t.Helper()
	_, err := client.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
}

// createWebhookConfig makes a configuration with two webhooks (both must get the caBundle).
// Nothing calls them: the rules match a resource no test creates.
func createWebhookConfig(t *testing.T, client kubernetes.Interface, name string) {
	t.Helper()
	none := admissionregistrationv1.SideEffectClassNone
	ignore := admissionregistrationv1.Ignore
	hook := func(n string) admissionregistrationv1.MutatingWebhook {
		url := "https://127.0.0.1:1/" + n
		return admissionregistrationv1.MutatingWebhook{
			Name:                    n + ".certs-test.vault-injector.io",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url},
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             &none,
			FailurePolicy:           &ignore,
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{"certs-test.invalid"}, APIVersions: []string{"v1"}, Resources: []string{"nothings"}},
			}},
		}
	}
	_, err := client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(context.Background(),
		&admissionregistrationv1.MutatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Webhooks:   []admissionregistrationv1.MutatingWebhook{hook("a"), hook("b")},
		}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating webhook configuration: %v", err)
	}
}

// caBundles returns the caBundle of every webhook of the configuration.
func caBundles(t *testing.T, client kubernetes.Interface, name string) [][]byte {
	t.Helper()
	cfg, err := client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading webhook configuration: %v", err)
	}
	var out [][]byte
	for _, w := range cfg.Webhooks {
		out = append(out, w.ClientConfig.CABundle)
	}
	return out
}

func readFile(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("reading %s: %v", name, err)
	}
	return b
}

func getSecret(t *testing.T, client kubernetes.Interface, ns, name string) *corev1.Secret {
	t.Helper()
	s, err := client.CoreV1().Secrets(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading Secret: %v", err)
	}
	return s
}

func testOptions(ns, dir string, log logr.Logger) Options {
	return Options{
		Namespace:         ns,
		SecretName:        "webhook-tls",
		ServiceName:       "vault-injector",
		Hosts:             []string{"127.0.0.1"},
		WebhookConfigName: "certs-test-" + ns,
		CertDir:           dir,
		Log:               log,
	}
}

// decodeState parses Secret data strictly: any unusable entry is an error naming the key and
// the problem.
func decodeState(d map[string][]byte) (*state, error) {
	s, problems := salvageState(d)
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return s, nil
}
