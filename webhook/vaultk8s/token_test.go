package vaultk8s

import (
	"strings"
	"testing"

	"github.com/vault-injector/vault-injector/contract"
)

func TestTranslateInjectToken(t *testing.T) {
	r := Translate(vk("role", "app", "agent-inject-token", "true", "agent-inject-secret-db", "secret/db"))
	if len(r.Problems) > 0 || r.Annotations[contract.AnnotationInjectToken] != "true" ||
		r.Verdicts[Prefix+"agent-inject-token"] != Translated {
		t.Fatalf("problems %v, annotations %v, verdicts %v", r.Problems, r.Annotations, r.Verdicts)
	}
	if from := r.Origins[contract.AnnotationInjectToken]; len(from) != 1 || from[0] != Prefix+"agent-inject-token" {
		t.Errorf("origins %v", from)
	}
	r = Translate(vk("role", "app", "agent-inject-token", "false", "agent-inject-secret-db", "secret/db"))
	if _, ok := r.Annotations[contract.AnnotationInjectToken]; ok || len(r.Problems) > 0 {
		t.Errorf("false: %v, %v", r.Annotations, r.Problems)
	}
}

func TestTranslateInjectTokenCollision(t *testing.T) {
	for _, kv := range [][]string{
		{"agent-inject-secret-Token", "secret/t"},
		{"agent-inject-secret-db", "secret/db", "agent-inject-file-db", "/token"},
	} {
		r := Translate(vk(append([]string{"role", "app", "agent-inject-token", "true"}, kv...)...))
		key := Prefix + kv[len(kv)-2]
		if len(r.Problems) != 1 || !strings.Contains(r.Problems[0], key) ||
			!strings.Contains(r.Problems[0], `collides with the token file "token" that vault.hashicorp.com/agent-inject-token writes`) {
			t.Errorf("%v: problems %v; want the collision naming %s and agent-inject-token", kv, r.Problems, key)
		}
		if r := Translate(vk(append([]string{"role", "app"}, kv...)...)); len(r.Problems) > 0 {
			t.Errorf("%v without agent-inject-token: %v", kv, r.Problems)
		}
	}
}

// Custom delimiters are carried over, and every check of the translation parses with them.
func TestTranslateDelims(t *testing.T) {
	r := Translate(vk("role", "app", "agent-template-left-delim-a", "[[", "agent-template-right-delim-a", "]]",
		"agent-inject-template-a", `[[ with secret "kv/a" ]][[ .Data.x ]] {{ env "X" }}[[ end ]]`))
	if len(r.Problems) > 0 || r.Annotations[contract.AnnotationSecretPrefix+"a"] != "kv/a" ||
		r.Annotations[contract.AnnotationLeftDelimPrefix+"a"] != "[[" || r.Annotations[contract.AnnotationRightDelimPrefix+"a"] != "]]" {
		t.Fatalf("problems %v, annotations %v", r.Problems, r.Annotations)
	}
	r = Translate(vk("role", "app", "agent-template-left-delim-a", "[[", "agent-template-right-delim-a", "]]",
		"agent-inject-secret-a", "kv/a", "agent-inject-template-a", `[[ env "X" ]]`))
	if len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "calls env") {
		t.Errorf("a refused function behind custom delimiters: %v", r.Problems)
	}
}
