package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/test/wait"
)

// TestAtomicSwapUnderConcurrentReader rotates one Vault secret >=100 times while a reader
// reads the agent's three files (json, raw, nested template) of it. The files of one render
// come from one read of Vault, so a reader that pins ..data must always see one generation in
// all of them, and every file read through its own link must be complete.
func TestAtomicSwapUnderConcurrentReader(t *testing.T) {
	e := newEnv(t)
	blob := strings.Repeat("x", 32<<10) // big enough that a torn write would show
	e.putKV2("rot", map[string]any{"gen": "0", "blob": blob})
	cfg := e.config(
		contract.Secret{Name: "all", Path: "secret/rot", Format: "json", File: "all.json"},
		contract.Secret{Name: "gen", Path: "secret/rot", Format: "raw:gen"},
		contract.Secret{Name: "tpl", Path: "secret/rot", File: "deep/er/tpl", Template: `{{ .Data.data.gen }}:{{ .Data.data.blob }}`},
	)
	cfg.Refresh = d(10 * time.Millisecond)
	e.startSidecar(cfg)
	dir := cfg.SecretsDir
	wait.For(t, 10*time.Second, "first render", fileIs(filepath.Join(dir, "gen"), "0"))

	var st swapStats
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); st.readSets(dir, blob) }()
	go func() { defer wg.Done(); st.readFiles(dir, blob) }()
	const rotations = 100
	for g := 1; g <= rotations; g++ {
		e.putKV2("rot", map[string]any{"gen": strconv.Itoa(g), "blob": blob})
		wait.For(t, 10*time.Second, "rotation "+strconv.Itoa(g), fileIs(filepath.Join(dir, "gen"), strconv.Itoa(g)))
	}
	st.stop.Store(true)
	wg.Wait()
	if n := st.bad.Load(); n > 0 {
		t.Fatalf("%d bad reads, first: %v", n, st.firstBad.Load())
	}
	if st.sets.Load() < rotations || st.files.Load() < rotations {
		t.Fatalf("reader too slow to prove anything: %d sets, %d files", st.sets.Load(), st.files.Load())
	}
	t.Logf("%d rotations: %d consistent sets, %d complete files, %d set reads retried",
		rotations, st.sets.Load(), st.files.Load(), st.retried.Load())
}

// swapStats counts what the concurrent readers saw.
type swapStats struct {
	stop                      atomic.Bool
	sets, files, retried, bad atomic.Int64
	firstBad                  atomic.Value
}

func (s *swapStats) fail(err error) {
	s.bad.Add(1)
	s.firstBad.CompareAndSwap(nil, err.Error())
}

// readSets reads the whole set through a pinned ..data: one generation in every file.
func (s *swapStats) readSets(dir, blob string) {
	for !s.stop.Load() {
		gens, err := readGenerations(dir, blob)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			s.retried.Add(1) // the pinned generation was removed under us: retry, never mixed
		case err != nil:
			s.fail(err)
		case gens[0] != gens[1] || gens[1] != gens[2]:
			s.fail(fmt.Errorf("mixed set: %v", gens))
		default:
			s.sets.Add(1)
		}
	}
}

// readFiles reads each file through its own link: every read must be complete.
func (s *swapStats) readFiles(dir, blob string) {
	for !s.stop.Load() {
		for _, f := range []string{"all.json", "gen", "deep/er/tpl"} {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err == nil {
				_, err = parseGeneration(f, b, blob)
			}
			if err != nil {
				s.fail(err)
			}
			s.files.Add(1)
		}
	}
}

func readGenerations(dir, blob string) ([]int, error) {
	root, err := os.OpenRoot(filepath.Join(dir, "..data"))
	if err != nil {
		return nil, err
	}
	defer root.Close()
	var gens []int
	for _, f := range []string{"all.json", "gen", "deep/er/tpl"} {
		b, err := root.ReadFile(f)
		if err != nil {
			return nil, err
		}
		g, err := parseGeneration(f, b, blob)
		if err != nil {
			return nil, err
		}
		gens = append(gens, g)
	}
	return gens, nil
}

// parseGeneration returns the generation in one of the three files, or an error if the file
// is incomplete.
func parseGeneration(name string, b []byte, blob string) (int, error) {
	var gen string
	switch name {
	case "all.json":
		var v struct{ Gen, Blob string }
		if err := json.Unmarshal(b, &v); err != nil || v.Blob != blob {
			return 0, fmt.Errorf("%s incomplete (%d bytes)", name, len(b))
		}
		gen = v.Gen
	case "gen":
		gen = string(b)
	default:
		g, rest, ok := strings.Cut(string(b), ":")
		if !ok || rest != blob {
			return 0, fmt.Errorf("%s incomplete (%d bytes)", name, len(b))
		}
		gen = g
	}
	return strconv.Atoi(gen)
}
