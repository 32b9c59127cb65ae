package mutate

import (
	"strings"
	"testing"

	"github.com/vault-injector/vault-injector/contract"
)

func TestPodConfigTokenSink(t *testing.T) {
	for v, want := range map[string]string{"true": contract.TokenSinkName, "false": ""} {
		pod := testPod(map[string]string{contract.AnnotationInjectToken: v}, "app")
		_, cfg := injectWith(t, pod, testDefaults())
		if cfg.TokenSink != want {
			t.Errorf("inject-token=%s: tokenSink %q, want %q", v, cfg.TokenSink, want)
		}
	}
}

// The token file alone is something to inject: no secret-<name> is needed with inject-token.
func TestPodTokenOnly(t *testing.T) {
	pod := testPod(map[string]string{contract.AnnotationInjectToken: "true"}, "app")
	for k := range pod.Annotations {
		if strings.HasPrefix(k, contract.AnnotationSecretPrefix) {
			delete(pod.Annotations, k)
		}
	}
	res, err := Pod(pod, testDefaults())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := contract.Parse([]byte(applied(t, pod, res).Annotations[contract.AnnotationAgentConfig]))
	if err != nil || cfg.TokenSink != contract.TokenSinkName || len(cfg.Secrets) != 0 {
		t.Fatalf("config %+v, %v; want the token file and no secret", cfg, err)
	}
	pod.Annotations[contract.AnnotationInjectToken] = "false"
	if _, err := Pod(pod, testDefaults()); err == nil || !strings.Contains(err.Error(), "no secret to inject") {
		t.Errorf("inject-token false and no secret: %v", err)
	}
}
