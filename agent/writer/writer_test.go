package writer

import (
	"os"
	"path/filepath"
	"testing"
)

// The mechanism is tested in internal/atomicdir; this checks the agent's side of it.
func TestNewCreatesDirAndReadyFollowsFirstWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vault", "secrets")
	w, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Fatalf("secrets dir not created: %v", err)
	}
	if Ready(dir) == nil {
		t.Fatal("Ready before the first write")
	}
	files := []File{{Path: "db.json", Data: []byte(`{"a":1}`), Mode: 0o400}}
	if changed, err := w.Write(files); err != nil || !changed {
		t.Fatalf("first write: changed=%v err=%v", changed, err)
	}
	if err := Ready(dir); err != nil {
		t.Fatalf("Ready after the first write: %v", err)
	}
	if changed, err := w.Write(files); err != nil || changed {
		t.Fatalf("identical write: changed=%v err=%v", changed, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "db.json")); err != nil || string(b) != `{"a":1}` {
		t.Fatalf("db.json = %q, %v", b, err)
	}
}
