package cli

import "testing"

func TestNotDumpable(t *testing.T) {
	if err := notDumpable(); err != nil {
		t.Fatal(err)
	}
	if d, err := dumpable(); err != nil || d {
		t.Fatalf("dumpable after notDumpable: %v, %v", d, err)
	}
}
