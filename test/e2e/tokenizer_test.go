package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Scenario 8: the tokenization service reads its encryption key only from the injected file.
// A tokenize/detokenize round trip over the pod IP works, and a key rotation in Vault is picked
// up without a restart while earlier tokens still detokenize.
func TestTokenizer(t *testing.T) {
	ctx, ns := scenario(t, "tokenizer", 4*time.Minute)
	if err := st.WriteSecret(ctx, "tokenizer", map[string]any{"key": "first-key-0123456789abcdef"}); err != nil {
		t.Fatal(err)
	}
	tmpl := template("tokenizer", annotations("refresh", "5s",
		"secret-tokenizer-key", "secret/e2e/tokenizer", "format-tokenizer-key", "raw:key"), "")
	tmpl.Spec.Containers[0] = corev1.Container{
		Name: "app", Image: st.TokenizerImage.Ref(), ImagePullPolicy: corev1.PullNever,
		Args:            []string{"--listen=:8080", "--key-file=/vault/secrets/tokenizer-key"},
		SecurityContext: restricted(),
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
			HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1},
	}
	pod := deploy(ctx, t, ns, "tokenizer", tmpl)
	if len(pod.Spec.Containers[0].Env) != 0 {
		t.Fatalf("the app has env vars %v; the key must come from the file only", pod.Spec.Containers[0].Env)
	}
	base := fmt.Sprintf("http://%s:8080", pod.Status.PodIP)

	var tok struct{ Token, KeyID string }
	call(ctx, t, base+"/tokenize", map[string]string{"value": "4111 1111 1111 1111"}, &tok)
	var back struct{ Value string }
	call(ctx, t, base+"/detokenize", map[string]string{"token": tok.Token}, &back)
	if back.Value != "4111 1111 1111 1111" || tok.Token == "" {
		t.Fatalf("round trip gave %q from token %q", back.Value, tok.Token)
	}

	if err := st.WriteSecret(ctx, "tokenizer", map[string]any{"key": "second-key-fedcba9876543210"}); err != nil {
		t.Fatal(err)
	}
	var key struct{ KeyID string }
	for deadline := time.Now().Add(30 * time.Second); ; {
		call(ctx, t, base+"/key", nil, &key)
		if key.KeyID != tok.KeyID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("key id still %s 30s after the rotation", key.KeyID)
		}
		time.Sleep(500 * time.Millisecond)
	}
	var tok2 struct{ Token, KeyID string }
	call(ctx, t, base+"/tokenize", map[string]string{"value": "secret"}, &tok2)
	if tok2.KeyID != key.KeyID {
		t.Errorf("new tokens use key %s, want the rotated %s", tok2.KeyID, key.KeyID)
	}
	call(ctx, t, base+"/detokenize", map[string]string{"token": tok.Token}, &back)
	if back.Value != "4111 1111 1111 1111" {
		t.Errorf("a token from before the rotation no longer detokenizes: %q", back.Value)
	}
}

// call POSTs in as JSON (GET when in is nil) and decodes the answer into out.
func call(ctx context.Context, t *testing.T, url string, in, out any) {
	t.Helper()
	method, body := http.MethodGet, []byte(nil)
	if in != nil {
		method = http.MethodPost
		body, _ = json.Marshal(in)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s", method, url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}
