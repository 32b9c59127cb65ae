package migrate

import (
	"bytes"
	"os"
	"testing"
)

// FuzzMigrate: any input gives an error or a result that, migrated again, does not change.
func FuzzMigrate(f *testing.F) {
	if b, err := os.ReadFile("testdata/workloads.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("kind: Pod\nmetadata:\n  annotations:\n    vault.hashicorp.com/agent-inject: \"true\"\n    vault.hashicorp.com/agent-inject-secret-a: kv/a\n---\n---\n"))
	f.Add([]byte("kind: Job\nspec: {template: {metadata: {annotations: {vault.hashicorp.com/role: [1]}}}}\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		out, res, err := File("f.yaml", src, defaults())
		if err != nil {
			return
		}
		if res.Changed == bytes.Equal(out, src) {
			t.Fatalf("Changed=%v but the output is %s the input", res.Changed, map[bool]string{true: "equal to", false: "different from"}[bytes.Equal(out, src)])
		}
		again, res2, err := File("f.yaml", out, defaults())
		if err != nil || res2.Changed || !bytes.Equal(again, out) {
			t.Fatalf("a second migration changed the output (err %v):\n%q\n%q", err, out, again)
		}
	})
}
