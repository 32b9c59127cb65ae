package e2e

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Scenario 1: an annotated Deployment with the native sidecar. The app's very first command
// reads the secrets, so they existed before it started; it sees them on a read-only tmpfs, with
// the modes asked for, in the formats asked for.
func TestNativeSidecarDeployment(t *testing.T) {
	ctx, ns := scenario(t, "native", 4*time.Minute)
	data := map[string]any{"username": "billing", "password": `p@ss w'rd $(not run)`}
	if err := st.WriteSecret(ctx, "native", data); err != nil {
		t.Fatal(err)
	}
	const script = `set -e
c=$(cat /vault/secrets/config.json)
echo "MODE config.json $(stat -L -c %a /vault/secrets/config.json) db.env $(stat -L -c %a /vault/secrets/db.env)"
echo "MOUNT $(grep ' /vault/secrets ' /proc/mounts)"
if touch /vault/secrets/probe 2>/dev/null; then echo "WRITE allowed"; else echo "WRITE refused"; fi
echo "<json>$c</json>"
. /vault/secrets/db.env
echo "<password>$PASSWORD</password>"
exec sleep 3600`
	ann := annotations(
		"secret-config", "secret/e2e/native", "file-config", "config.json", // KV v2 without data/
		"secret-db", "secret/data/e2e/native", "format-db", "env", "file-db", "db.env", "perms-db", "0440",
	)
	pod := deploy(ctx, t, ns, "native", template("native", ann, script))
	log := waitLog(ctx, t, ns, pod.Name, "app", "</password>")

	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == "app" && cs.RestartCount != 0 {
			t.Errorf("app restarted %d times: its first start did not find the secrets", cs.RestartCount)
		}
	}
	if !strings.Contains(log, "MODE config.json 400 db.env 440") {
		t.Errorf("file modes wrong:\n%s", log)
	}
	mount := between(log, "MOUNT ", "\n")
	if !strings.HasPrefix(mount, "tmpfs /vault/secrets tmpfs ro,") {
		t.Errorf("secrets mount is not a read-only tmpfs: %q", mount)
	}
	if !strings.Contains(log, "WRITE refused") {
		t.Error("the app could write into the secrets volume")
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(between(log, "<json>", "</json>")), &got); err != nil || !reflect.DeepEqual(got, data) {
		t.Errorf("config.json = %v (%v), want Vault's data %v", got, err, data)
	}
	if pw := between(log, "<password>", "</password>"); pw != data["password"] {
		t.Errorf("sourcing db.env gave PASSWORD=%q, want %q", pw, data["password"])
	}
}

// readerLoop reads the two files a and b of one render again and again, resolving ..data once
// per pass so both come from the same generation, and reports generations seen and any pass
// that saw a partial or mixed set (or files gone).
const readerLoop = `last=""; n=0; gone=0
while true; do
  d=$(readlink /vault/secrets/..data) || { [ $gone = 1 ] || echo "GONE ..data"; gone=1; continue; }
  gone=0
  case "$d" in /*) p=$d ;; *) p=/vault/secrets/$d ;; esac
  a=$(cat "$p/a" 2>/dev/null) || continue
  b=$(cat "$p/b" 2>/dev/null) || continue
  n=$((n+1))
  [ "$a" = "$b" ] || echo "MIXED a=$a b=$b"
  case "$a" in gen-[0-9]*) ;; *) echo "PARTIAL a=$a" ;; esac
  if [ "$a" != "$last" ]; then echo "SAW $a after $n reads"; last=$a; fi
done`

// rotationAnnotations renders one KV value into two files.
func rotationAnnotations(secret string, kv ...string) map[string]string {
	return annotations(append([]string{
		"refresh", "5s",
		"secret-a", "secret/e2e/" + secret, "format-a", "raw:v",
		"secret-b", "secret/e2e/" + secret, "format-b", "raw:v",
	}, kv...)...)
}

// Scenario 2: a secret changes in Vault; the running pod's files follow within the refresh
// interval, and a reader never sees a partial or mixed set.
func TestRotation(t *testing.T) {
	ctx, ns := scenario(t, "rotation", 5*time.Minute)
	if err := st.WriteSecret(ctx, "rotation", map[string]any{"v": "gen-1"}); err != nil {
		t.Fatal(err)
	}
	pod := deploy(ctx, t, ns, "rotation", template("rotation", rotationAnnotations("rotation"), readerLoop))
	waitLog(ctx, t, ns, pod.Name, "app", "SAW gen-1 ")
	const refresh = 5 * time.Second
	for gen := 2; gen <= 5; gen++ {
		v := "gen-" + itoa(gen)
		began := time.Now()
		if err := st.WriteSecret(ctx, "rotation", map[string]any{"v": v}); err != nil {
			t.Fatal(err)
		}
		waitLog(ctx, t, ns, pod.Name, "app", "SAW "+v+" ")
		took := time.Since(began)
		t.Logf("%s visible in the pod after %s", v, took.Round(100*time.Millisecond))
		// Refresh interval plus the log poll and scheduling slack of a busy 2-core machine.
		if took > refresh+5*time.Second {
			t.Errorf("%s took %s to reach the pod; refresh is %s", v, took, refresh)
		}
	}
	log, err := st.Cluster.PodLogs(ctx, ns, pod.Name, "app")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"MIXED", "PARTIAL", "GONE"} {
		if strings.Contains(log, bad) {
			t.Errorf("reader saw %s:\n%s", bad, log)
		}
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }
