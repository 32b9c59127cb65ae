package integration

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/test/freeport"
	"github.com/vault-injector/vault-injector/test/vaultserver/postgres"
	"github.com/vault-injector/vault-injector/test/wait"
)

// setupDatabase mounts Vault's database engine on a real PostgreSQL with a short-lived role:
// leases of ttl, renewable up to maxTTL.
func setupDatabase(t *testing.T, e *env, pg *postgres.Server, ttl, maxTTL string) {
	t.Helper()
	root := e.vs.MustClient(t)
	if err := root.Sys().Mount("database", &api.MountInput{Type: "database"}); err != nil {
		t.Fatal(err)
	}
	_, err := root.Logical().Write("database/config/pg", map[string]any{
		"plugin_name":    "postgresql-database-plugin",
		"connection_url": "postgresql://{{username}}:{{password}}@127.0.0.1:" + strconv.Itoa(pg.Port) + "/postgres?sslmode=disable",
		"username":       pg.User, "password": pg.Password, "allowed_roles": "app",
	})
	if err != nil {
		t.Fatalf("database config: %v", err)
	}
	_, err = root.Logical().Write("database/roles/app", map[string]any{
		"db_name":             "pg",
		"creation_statements": `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`,
		"default_ttl":         ttl, "max_ttl": maxTTL,
	})
	if err != nil {
		t.Fatalf("database role: %v", err)
	}
}

type creds struct{ Username, Password string }

func readCreds(p string) (creds, bool) {
	b, err := os.ReadFile(p)
	var c creds
	if err != nil || json.Unmarshal(b, &c) != nil || c.Username == "" {
		return c, false
	}
	return c, true
}

// TestDatabaseLeaseRenewedThenRefetched: the agent renews the credential's lease while it can,
// and fetches (and renders) a new credential before the lease's max TTL ends. Both credentials
// really log in to PostgreSQL, and two files rendering the same path share one lease.
func TestDatabaseLeaseRenewedThenRefetched(t *testing.T) {
	e := newEnv(t)
	pg := postgres.New(t)
	// Lease lengths leave the renewal watcher's end-of-lease margin (10-20% of the lease) room
	// for a loaded 2-core machine; 3s/9s was flaky there.
	const maxTTL = 18 * time.Second
	setupDatabase(t, e, pg, "6s", "18s")
	port := freeport.For(t, "127.0.0.1")
	cfg := e.config(
		contract.Secret{Name: "db", Path: "database/creds/app", File: "db.json",
			Template: `{"username":{{ .Data.username | toJSON }},"password":{{ .Data.password | toJSON }}}`},
		contract.Secret{Name: "dbuser", Path: "database/creds/app", Format: "raw:username"},
	)
	cfg.MetricsPort = port
	sc := e.startSidecar(cfg)
	file := filepath.Join(cfg.SecretsDir, "db.json")
	ctx := context.Background()

	var first creds
	wait.For(t, 10*time.Second, "first credential", func() (ok bool) { first, ok = readCreds(file); return })
	fetchedAt := time.Now()
	if got := readFile(t, filepath.Join(cfg.SecretsDir, "dbuser")); got != first.Username {
		t.Fatalf("two files of the same dynamic path got different credentials (%q vs %q): two leases", got, first.Username)
	}
	if out, err := pg.Query(ctx, first.Username, first.Password, "select current_user"); err != nil || strings.TrimSpace(out) != first.Username {
		t.Fatalf("rendered credential does not log in: %v %q", err, out)
	}
	wait.For(t, 12*time.Second, "a lease renewal", func() bool {
		return metric(port, `vault_injector_agent_renewals_total{kind="lease"}`) >= 1
	})
	if c, _ := readCreds(file); c.Username != first.Username {
		t.Fatal("credential replaced before any renewal: the lease was not renewed")
	}
	var second creds
	wait.For(t, 25*time.Second, "a new credential", func() (ok bool) {
		second, ok = readCreds(file)
		return ok && second.Username != first.Username
	})
	if el := time.Since(fetchedAt); el >= maxTTL {
		t.Errorf("new credential after %v, the old lease (max %v) had already ended", el, maxTTL)
	}
	if _, err := pg.Query(ctx, second.Username, second.Password, "select 1"); err != nil {
		t.Fatalf("new credential does not log in: %v", err)
	}
	if code := sc.stop(t); code != 0 {
		t.Fatalf("sidecar exit %d", code)
	}
	noLeaks(t, sc.logs.String(), first.Password, second.Password)
}
