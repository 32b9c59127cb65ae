package nodump

import "testing"

// TestNotDumpableOnceImported: importing the package is enough.
func TestNotDumpableOnceImported(t *testing.T) {
	if Err != nil {
		t.Fatal(Err)
	}
	if d, err := Dumpable(); err != nil || d {
		t.Fatalf("dumpable after import: %v, %v", d, err)
	}
}
