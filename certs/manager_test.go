package certs

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/vault-injector/vault-injector/test/kubetest"
	"github.com/vault-injector/vault-injector/test/wait"
)

// TestManagerOnRealAPIServer runs Managers against a real etcd + kube-apiserver. The subtests
// share the server (one start-up) and each uses its own namespace.
func TestManagerOnRealAPIServer(t *testing.T) {
	c := kubetest.Start(t)
	t.Run("bootstrap writes Secret, files and caBundle", func(t *testing.T) { testBootstrap(t, c.Client) })
	t.Run("two replicas racing converge on one certificate", func(t *testing.T) { testRace(t, c.Client) })
	t.Run("corrupt Secret is repaired with a clear log line", func(t *testing.T) { testCorrupt(t, c.Client) })
	t.Run("a Secret the webhook did not create is not taken over", func(t *testing.T) { testForeignSecret(t, c.Client) })
	t.Run("rotation and CA rollover fail no request", func(t *testing.T) { testRotation(t, c.Client) })
}

func testBootstrap(t *testing.T, client kubernetes.Interface) {
	ns, dir, logs := "certs-bootstrap", t.TempDir(), &logBuffer{}
	createNamespace(t, client, ns)
	opts := testOptions(ns, dir, logs.logger(t, "m"))
	createWebhookConfig(t, client, opts.WebhookConfigName)
	m := startManager(t, client, opts)

	sec := getSecret(t, client, ns, opts.SecretName)
	if sec.Type != corev1.SecretTypeTLS || sec.Labels[managedByLabel] != "vault-injector" {
		t.Fatalf("Secret type %q labels %v", sec.Type, sec.Labels)
	}
	st, err := decodeState(sec.Data)
	if err != nil {
		t.Fatalf("Secret written by the manager does not decode: %v", err)
	}
	if !bytes.Equal(readFile(t, dir, KeyCert), sec.Data[KeyCert]) || !bytes.Equal(readFile(t, dir, KeyKey), sec.Data[KeyKey]) {
		t.Fatalf("cert dir does not hold the Secret's certificate")
	}
	want := []string{"vault-injector", "vault-injector." + ns, "vault-injector." + ns + ".svc", "vault-injector." + ns + ".svc.cluster.local", "127.0.0.1"}
	if !sameHosts(st.Leaf.Cert, want) {
		t.Fatalf("SANs %v %v, want %v", st.Leaf.Cert.DNSNames, st.Leaf.Cert.IPAddresses, want)
	}
	if life := st.Leaf.Cert.NotAfter.Sub(st.Leaf.Cert.NotBefore); life < DefaultLeafValidity || life > DefaultLeafValidity+maxBackdate {
		t.Fatalf("leaf lifetime %s, want the default %s (+ backdate)", life, DefaultLeafValidity)
	}
	wait.Until(t, 10*time.Second, func() error {
		for i, b := range caBundles(t, client, opts.WebhookConfigName) {
			if !bytes.Equal(b, sec.Data[KeyCABundle]) {
				return fmt.Errorf("webhook %d has not got the caBundle", i)
			}
		}
		return nil
	})
	if !bytes.Equal(readFile(t, dir, KeyCABundle), sec.Data[KeyCABundle]) || m.CABundleFile() != dir+"/"+KeyCABundle {
		t.Fatalf("ca-bundle.crt in the cert dir differs from the Secret's")
	}
	// The log line follows the update the test has just seen: allow it a moment.
	wait.Until(t, 5*time.Second, func() error {
		if logs.count("caBundle updated") != 1 || logs.count("TLS Secret updated") != 1 {
			return fmt.Errorf("want one Secret write and one caBundle write, logs:\n%s", logs.all())
		}
		return nil
	})
	if bytes.Contains([]byte(logs.all()), []byte("PRIVATE KEY")) {
		t.Fatalf("logs contain key material")
	}
}

// testRace starts two Managers on the same Secret at the same instant with a 4s leaf, so they
// also race on every renewal for 10s. Both must always serve the Secret's certificate, and
// renewals must not multiply (the loser of each race adopts the winner's certificate).
func testRace(t *testing.T, client kubernetes.Interface) {
	ns, logs := "certs-race", &logBuffer{}
	createNamespace(t, client, ns)
	dirs := []string{t.TempDir(), t.TempDir()}
	start := make(chan struct{})
	ready := make(chan *Manager, 2)
	for i, dir := range dirs {
		opts := testOptions(ns, dir, logs.logger(t, string(rune('a'+i))))
		opts.WebhookConfigName = ""
		opts.LeafValidity, opts.CAValidity, opts.PropagationDelay = 4*time.Second, time.Hour, time.Second
		go func() {
			<-start
			ready <- startManager(t, client, opts)
		}()
	}
	close(start)
	<-ready
	<-ready

	seen := map[string]bool{}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		seen[string(getSecret(t, client, ns, "webhook-tls").Data[KeyCert])] = true
		time.Sleep(50 * time.Millisecond)
	}
	wait.For(t, 5*time.Second, "both replicas to serve the Secret's certificate", func() bool {
		want := getSecret(t, client, ns, "webhook-tls").Data[KeyCert]
		for _, d := range dirs {
			if !bytes.Equal(readFile(t, d, KeyCert), want) {
				return false
			}
		}
		return true
	})
	// A 4s leaf (backdated 0.4s) is renewed 2.5s after issue: 10s of racing is 4-6
	// certificates. Renewals doubled by the race would show as 8-10.
	if n := len(seen); n < 3 || n > 7 {
		t.Fatalf("saw %d distinct certificates in 10s, want 3..7", n)
	}
	lost := logs.count("Another replica wrote the TLS Secret first")
	t.Logf("distinct certificates: %d; writes lost to the other replica (and adopted): %d", len(seen), lost)
}

// testCorrupt starts a Manager on a Secret of its own that holds garbage, then corrupts the
// Secret again twice while the Manager runs: each time the unusable entries are repaired, the
// log line says why, and a CA that can still sign is kept.
func testCorrupt(t *testing.T, client kubernetes.Interface) {
	ns, dir, logs := "certs-corrupt", t.TempDir(), &logBuffer{}
	createNamespace(t, client, ns)
	opts := testOptions(ns, dir, logs.logger(t, "m"))
	opts.WebhookConfigName = ""
	_, err := client.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: opts.SecretName, Labels: map[string]string{managedByLabel: managedByValue}},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{KeyCert: []byte("garbage"), KeyKey: []byte("garbage")},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	startManager(t, client, opts)
	if n := logs.count(`"msg"="Repairing TLS Secret: some entries cannot be used"`, `ca.crt or ca.key is missing`, `"caKept"=false`, `"secret"="certs-corrupt/webhook-tls"`); n != 1 {
		t.Fatalf("want one clear log line about the corrupt Secret, logs:\n%s", logs.all())
	}
	first, err := decodeState(getSecret(t, client, ns, opts.SecretName).Data)
	if err != nil {
		t.Fatalf("Secret not repaired: %v", err)
	}

	corrupt := func(key string, value []byte, reason string) *state {
		t.Helper()
		sec := getSecret(t, client, ns, opts.SecretName)
		sec.Data[key] = value
		if _, err := client.CoreV1().Secrets(ns).Update(context.Background(), sec, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		var st *state
		// The watch (not the one-minute resync) must notice.
		wait.Until(t, 5*time.Second, func() error {
			if logs.count("Repairing TLS Secret", reason, `"caKept"=true`) != 1 {
				return fmt.Errorf("corruption of %s not reported", key)
			}
			st, err = decodeState(getSecret(t, client, ns, opts.SecretName).Data)
			if err != nil {
				return fmt.Errorf("Secret not repaired: %w", err)
			}
			return nil
		})
		if !st.CA.Cert.Equal(first.CA.Cert) {
			t.Fatalf("corrupting %s replaced the CA, which could still sign", key)
		}
		return st
	}
	corrupt(KeyCert, []byte("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"), `tls.crt/tls.key: parsing certificate`)
	// The files follow the Secret within the same reconcile.
	wait.For(t, 5*time.Second, "the cert dir to serve the repaired certificate", func() bool {
		return bytes.Equal(readFile(t, dir, KeyCert), getSecret(t, client, ns, opts.SecretName).Data[KeyCert])
	})
	leaf := getSecret(t, client, ns, opts.SecretName).Data[KeyCert]
	corrupt(KeyCABundle, []byte("junk"), `ca-bundle.crt: data after the last PEM block is not PEM`)
	if !bytes.Equal(getSecret(t, client, ns, opts.SecretName).Data[KeyCert], leaf) {
		t.Fatalf("a corrupt bundle alone replaced the serving certificate")
	}
}

// testForeignSecret: a kubernetes.io/tls Secret of the configured name that the webhook did
// not create is left alone, and the error says why and what to do.
func testForeignSecret(t *testing.T, client kubernetes.Interface) {
	ns := "certs-foreign"
	createNamespace(t, client, ns)
	opts := testOptions(ns, t.TempDir(), (&logBuffer{}).logger(t, "m"))
	opts.WebhookConfigName = ""
	mine := map[string][]byte{KeyCert: []byte("user cert"), KeyKey: []byte("user key")}
	_, err := client.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: opts.SecretName},
		Type:       corev1.SecretTypeTLS,
		Data:       mine,
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewManager(clientsOf(client), opts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.reconcile(context.Background())
	for _, w := range []string{"TLS Secret certs-foreign/webhook-tls was not created by vault-injector",
		"lacks the label app.kubernetes.io/managed-by=vault-injector", "not overwritten", "--tls-secret"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("reconcile error %v lacks %q", err, w)
		}
	}
	sec := getSecret(t, client, ns, opts.SecretName)
	if !reflect.DeepEqual(sec.Data, mine) || len(sec.Labels) != 0 {
		t.Fatalf("the user's Secret was changed: labels %v", sec.Labels)
	}
}
