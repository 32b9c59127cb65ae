package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/test/cluster"
	"github.com/vault-injector/vault-injector/test/freeport"
	"github.com/vault-injector/vault-injector/test/testbin"
	"github.com/vault-injector/vault-injector/test/testpki"
)

// tlsVault is a second real Vault, as a platform team runs one: TLS with its own CA (`-dev-tls`)
// on TLSAddr, and a second listener on MTLSAddr that requires client certificates signed by
// ClientCA. Pods reach both on the bridge gateway.
type tlsVault struct {
	TLSAddr, MTLSAddr string
	DevCA             []byte // CA of TLSAddr, written by -dev-tls
	MTLSCA            *testpki.CA
	ClientCA          *testpki.CA
	api               *api.Client
}

const (
	tlsSecretValue = "from-the-tls-vault"
	jwtRole        = "jwt-app"
	jwtAudience    = "vault-jwt"
)

// Scenario 12: connecting to a production-like Vault. A pod trusts Vault's private CA through
// its tls-secret; without it, the agent says which setting is missing. Behind mutual TLS a
// pod with a client certificate logs in and one without is refused. With jwt auth Vault checks
// the projected token against the cluster's signing key and audience, with no token reviewer.
func TestVaultTLSAndJWT(t *testing.T) {
	ctx, ns := scenario(t, "vaulttls", 8*time.Minute)
	v := startTLSVault(ctx, t)
	if err := v.configure(ctx, ns); err != nil {
		t.Fatal(err)
	}
	client, err := v.ClientCA.Client("app")
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]map[string][]byte{
		"dev-ca":      {"ca.crt": v.DevCA},
		"mtls-client": {"ca.crt": v.MTLSCA.CertPEM, "tls.crt": client.CertPEM, "tls.key": client.KeyPEM},
		"mtls-ca":     {"ca.crt": v.MTLSCA.CertPEM},
	}
	for name, data := range secrets {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: data}
		if _, err := st.Cluster.Clientset().CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	reads := func(addr string, kv ...string) map[string]string {
		return annotations(append([]string{"vault-address", addr, "secret-tls", "secret/e2e/tls"}, kv...)...)
	}
	const script = `echo "<v>$(cat /vault/secrets/tls)</v>"; echo "TLSDIR $(ls /vault/tls 2>&1)"; exec sleep 3600`

	t.Run("ca from tls-secret", func(t *testing.T) {
		t.Parallel()
		pod := deploy(ctx, t, ns, "with-ca", template("with-ca", reads(v.TLSAddr, "tls-secret", "dev-ca"), script))
		log := waitLog(ctx, t, ns, pod.Name, "app", "</v>")
		if !strings.Contains(log, tlsSecretValue) {
			t.Errorf("app saw %q, want %q", between(log, "<v>", "</v>"), tlsSecretValue)
		}
		if !strings.Contains(log, "TLSDIR ls:") {
			t.Errorf("the app container sees the agent's TLS files: %s", between(log, "TLSDIR ", "\n"))
		}
	})
	t.Run("no ca", func(t *testing.T) {
		t.Parallel()
		want := "x509: certificate signed by unknown authority talking to " + v.TLSAddr +
			": set vault-injector.io/tls-secret or --vault-ca-bundle"
		msg, log := failedInit(ctx, t, ns, "no-ca", reads(v.TLSAddr, "mode", contract.ModeInitOnly))
		if !strings.Contains(msg, want) || !strings.Contains(log, want) {
			t.Errorf("want %q in the termination message and the log;\nmessage: %s\nlog: %s", want, msg, log)
		}
		t.Logf("termination message: %s", msg)
	})
	t.Run("mtls with client certificate", func(t *testing.T) {
		t.Parallel()
		pod := deploy(ctx, t, ns, "mtls", template("mtls", reads(v.MTLSAddr, "tls-secret", "mtls-client"), script))
		if log := waitLog(ctx, t, ns, pod.Name, "app", "</v>"); !strings.Contains(log, tlsSecretValue) {
			t.Errorf("app saw %q", between(log, "<v>", "</v>"))
		}
	})
	t.Run("mtls without client certificate", func(t *testing.T) {
		t.Parallel()
		pod := createPod(ctx, t, ns, "mtls-refused", template("mtls-refused", reads(v.MTLSAddr, "tls-secret", "mtls-ca"), script))
		want := "remote error: tls: certificate required talking to " + v.MTLSAddr + ": Vault requires a client certificate"
		log := waitLog(ctx, t, ns, pod, contract.AgentContainer, want)
		t.Logf("agent: %s", lineWith(log, want))
	})
	t.Run("jwt auth", func(t *testing.T) {
		t.Parallel()
		ann := reads(v.TLSAddr, "tls-secret", "dev-ca", "auth-type", "jwt", "auth-path", "jwt", "role", jwtRole, "token-audience", jwtAudience)
		pod := deploy(ctx, t, ns, "jwt", template("jwt", ann, script))
		if log := waitLog(ctx, t, ns, pod.Name, "app", "</v>"); !strings.Contains(log, tlsSecretValue) {
			t.Errorf("app saw %q", between(log, "<v>", "</v>"))
		}
	})
	t.Run("jwt auth wrong audience", func(t *testing.T) {
		t.Parallel()
		ann := reads(v.TLSAddr, "tls-secret", "dev-ca", "auth-type", "jwt", "auth-path", "jwt", "role", jwtRole, "token-audience", "not-vault")
		pod := createPod(ctx, t, ns, "jwt-audience", template("jwt-audience", ann, script))
		log := waitLog(ctx, t, ns, pod, contract.AgentContainer, "login auth/jwt/login: Vault answered")
		line := lineWith(log, "login auth/jwt/login: Vault answered")
		if !strings.Contains(line, "aud") {
			t.Errorf("the refusal does not name the audience: %s", line)
		}
		t.Logf("agent: %s", line)
	})
}

// startTLSVault runs the second Vault in dev mode with -dev-tls (certificate for the gateway
// IP) plus a mutual-TLS listener from a config file.
func startTLSVault(ctx context.Context, t *testing.T) *tlsVault {
	t.Helper()
	gw := st.Cluster.GatewayIP()
	dir := t.TempDir()
	var err error
	v := &tlsVault{}
	if v.MTLSCA, err = testpki.NewCA("e2e-mtls-vault"); err != nil {
		t.Fatal(err)
	}
	if v.ClientCA, err = testpki.NewCA("e2e-vault-clients"); err != nil {
		t.Fatal(err)
	}
	server, err := v.MTLSCA.Server(gw)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := server.Write(dir, "mtls.crt", "mtls.key")
	if err != nil {
		t.Fatal(err)
	}
	clientCAFile := filepath.Join(dir, "clients-ca.crt")
	if err := os.WriteFile(clientCAFile, v.ClientCA.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	// Two ports apart from each other's cluster port (listener port + 1).
	tlsPort, mtlsPort := freeport.For(t, gw), freeport.For(t, gw)
	for mtlsPort >= tlsPort-1 && mtlsPort <= tlsPort+1 {
		mtlsPort = freeport.For(t, gw)
	}
	v.TLSAddr = "https://" + net.JoinHostPort(gw, strconv.Itoa(tlsPort))
	v.MTLSAddr = "https://" + net.JoinHostPort(gw, strconv.Itoa(mtlsPort))
	hcl := fmt.Sprintf(`listener "tcp" {
  address = %q
  tls_cert_file = %q
  tls_key_file = %q
  tls_client_ca_file = %q
  tls_require_and_verify_client_cert = true
}
`, net.JoinHostPort(gw, strconv.Itoa(mtlsPort)), certFile, keyFile, clientCAFile)
	if err := os.WriteFile(filepath.Join(dir, "mtls.hcl"), []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	bin, err := testbin.Path("vault")
	if err != nil {
		t.Fatal(err)
	}
	const root = "root-e2e-tls"
	devCerts := filepath.Join(dir, "dev-tls")
	if err := os.Mkdir(devCerts, 0o700); err != nil { // Vault wants it to exist
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(dir, "vault.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "server", "-dev", "-dev-tls", "-dev-tls-cert-dir="+devCerts, "-dev-tls-san="+gw,
		"-dev-listen-address="+net.JoinHostPort(gw, strconv.Itoa(tlsPort)), "-dev-root-token-id="+root,
		"-dev-no-store-token", "-config="+filepath.Join(dir, "mtls.hcl"))
	cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH"), "VAULT_LOG_LEVEL=warn"}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })

	cfg := api.DefaultConfig()
	cfg.Address = v.TLSAddr
	for {
		select {
		case <-exited:
			b, _ := os.ReadFile(logFile.Name())
			t.Fatalf("the TLS Vault exited: %s", b)
		case <-ctx.Done():
			b, _ := os.ReadFile(logFile.Name())
			t.Fatalf("the TLS Vault did not start: %s", b)
		case <-time.After(200 * time.Millisecond):
		}
		if v.DevCA, err = os.ReadFile(filepath.Join(devCerts, "vault-ca.pem")); err != nil {
			continue
		}
		if err := cfg.ConfigureTLS(&api.TLSConfig{CACertBytes: v.DevCA}); err != nil {
			t.Fatal(err)
		}
		if v.api, err = api.NewClient(cfg); err != nil {
			t.Fatal(err)
		}
		v.api.SetToken(root)
		// KV v2 at secret/ is mounted a moment after the listener opens.
		if _, err := v.api.KVv2("secret").Put(ctx, "e2e/tls", map[string]any{"v": tlsSecretValue}); err == nil {
			return v
		}
	}
}

// configure sets up kubernetes auth (reviewed by the stack's reviewer account) and jwt auth
// (the cluster's service-account public key, no reviewer), both granting read on secret/e2e/*.
func (v *tlsVault) configure(ctx context.Context, ns string) error {
	reviewer, err := st.Cluster.Clientset().CoreV1().ServiceAccounts("vault-auth").CreateToken(ctx, "vault-reviewer",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("reviewer token: %w", err)
	}
	clusterCA, err := os.ReadFile(st.Cluster.CAFile)
	if err != nil {
		return err
	}
	saPub, err := os.ReadFile(st.Cluster.ServiceAccountPublicKeyFile())
	if err != nil {
		return err
	}
	sys := v.api.Sys()
	if err := sys.PutPolicyWithContext(ctx, "e2e-read", `path "secret/data/e2e/*" { capabilities = ["read"] }`); err != nil {
		return err
	}
	for _, m := range []string{"kubernetes", "jwt"} {
		if err := sys.EnableAuthWithOptionsWithContext(ctx, m, &api.EnableAuthOptions{Type: m}); err != nil {
			return err
		}
	}
	for path, data := range map[string]map[string]any{
		"auth/kubernetes/config": {"kubernetes_host": st.Cluster.APIServerURL, "kubernetes_ca_cert": string(clusterCA),
			"token_reviewer_jwt": reviewer.Status.Token},
		"auth/kubernetes/role/app": {"bound_service_account_names": "app", "bound_service_account_namespaces": ns,
			"token_policies": "e2e-read", "token_ttl": "1h"},
		"auth/jwt/config": {"jwt_validation_pubkeys": []string{string(saPub)}, "bound_issuer": cluster.ServiceAccountIssuer},
		"auth/jwt/role/" + jwtRole: {"role_type": "jwt", "bound_audiences": []string{jwtAudience}, "user_claim": "sub",
			"bound_subject": "system:serviceaccount:" + ns + ":app", "token_policies": "e2e-read", "token_ttl": "1h"},
	} {
		if _, err := v.api.Logical().WriteWithContext(ctx, path, data); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return nil
}

// createPod creates a bare pod from tmpl and returns its name without waiting for it to be
// ready (its agent is expected to fail).
func createPod(ctx context.Context, t *testing.T, ns, name string, tmpl corev1.PodTemplateSpec) string {
	t.Helper()
	tmpl.Labels = map[string]string{"app": name}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: tmpl.Labels, Annotations: tmpl.Annotations}, Spec: tmpl.Spec}
	if _, err := st.Cluster.Clientset().CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating pod %s: %v", name, err)
	}
	return name
}

// failedInit runs an init-only pod whose agent must give up, and returns the agent's
// termination message and log.
func failedInit(ctx context.Context, t *testing.T, ns, name string, ann map[string]string) (msg, log string) {
	t.Helper()
	tmpl := template(name, ann, "cat /vault/secrets/tls")
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	createPod(ctx, t, ns, name, tmpl)
	_, err := st.Cluster.WaitForPod(ctx, ns, name, func(p *corev1.Pod) (bool, error) {
		for _, s := range p.Status.InitContainerStatuses {
			if s.Name == contract.AgentInitContainer && s.State.Terminated != nil {
				msg = s.State.Terminated.Message
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("the agent of %s never gave up: %v\n%s", name, err, agentLog(ns, name))
	}
	log, _ = st.Cluster.PodLogs(ctx, ns, name, contract.AgentInitContainer)
	return msg, log
}

// lineWith is the first line of log containing s.
func lineWith(log, s string) string {
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}
