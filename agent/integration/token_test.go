package integration

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/test/wait"
)

// inject-token against a real Vault: the token file holds the agent's working token from the
// first render on, and the next token once the first reaches its max TTL and the agent logs in
// again; never the token in the logs.
func TestTokenSinkFollowsRelogin(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.vs.PutPolicy(ctx, "agent", readPolicy); err != nil {
		t.Fatal(err)
	}
	first, err := e.vs.CreateToken(ctx, "2s", "4s", "agent")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.tokenFile, []byte(first+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.putKV2("app", map[string]any{"k": "v"})
	cfg := e.config(contract.Secret{Name: "app", Path: "secret/data/app", Format: contract.FormatJSON})
	cfg.TokenSink = contract.TokenSinkName
	sink := filepath.Join(cfg.SecretsDir, contract.TokenSinkName)
	s := e.startSidecar(cfg)

	wait.For(t, 10*time.Second, "the first token in the token file", fileIs(sink, first))
	if st, err := os.Stat(sink); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("token file: %v, %v; want mode 0640", st, err)
	}
	if !e.vs.TokenValid(ctx, readFile(t, sink)) {
		t.Error("the token file's token is not accepted by Vault")
	}

	second := e.seedToken(readPolicy) // read at the next login
	wait.For(t, 15*time.Second, "the re-login's token in the token file", fileIs(sink, second))
	if !e.vs.TokenValid(ctx, readFile(t, sink)) {
		t.Error("the rewritten token is not accepted by Vault")
	}
	if code := s.stop(t); code != 0 {
		t.Errorf("exit code %d: %s", code, s.stderr.String())
	}
	noLeaks(t, s.logs.String()+s.stderr.String(), first, second)
}

// A token-only pod (inject-token and no secret): `run --once` publishes the token file alone.
func TestTokenSinkOnly(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.Secrets = []contract.Secret{}
	cfg.TokenSink = contract.TokenSinkName
	code, logs, stderr := e.runOnce(cfg)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	tok := readFile(t, filepath.Join(cfg.SecretsDir, contract.TokenSinkName))
	if !e.vs.TokenValid(context.Background(), tok) {
		t.Error("the token file's token is not accepted by Vault")
	}
	noLeaks(t, logs+stderr, tok)
}
