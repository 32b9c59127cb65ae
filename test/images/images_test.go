package images

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"
)

// readArchive returns the files of a docker-save archive by name.
func readArchive(t *testing.T, file string) map[string][]byte {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	return readTar(t, f)
}

func readTar(t *testing.T, r io.Reader) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[hdr.Name] = b
		if hdr.Typeflag == tar.TypeSymlink {
			files[hdr.Name] = []byte("-> " + hdr.Linkname)
		}
	}
}

func TestBuildPause(t *testing.T) {
	dir := t.TempDir()
	tarPath, err := Build(context.Background(), dir, Pause())
	if err != nil {
		t.Fatal(err)
	}
	files := readArchive(t, tarPath)
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	if len(manifest) != 1 || len(manifest[0].Layers) != 1 || manifest[0].RepoTags[0] != Registry+"/pause:"+Tag {
		t.Fatalf("manifest = %+v", manifest)
	}
	var cfg imageConfig
	if err := json.Unmarshal(files[manifest[0].Config], &cfg); err != nil {
		t.Fatalf("config: %v", err)
	}
	layer := files[manifest[0].Layers[0]]
	sum := sha256.Sum256(layer)
	if want := "sha256:" + hex.EncodeToString(sum[:]); cfg.RootFS.DiffIDs[0] != want {
		t.Errorf("diff id %s, layer digest %s", cfg.RootFS.DiffIDs[0], want)
	}
	if cfg.Config.User != "65532:65532" || cfg.Config.Entrypoint[0] != PauseBinary {
		t.Errorf("config = %+v", cfg.Config)
	}
	content := readTar(t, bytes.NewReader(layer))
	for _, want := range []string{"pause", "etc/passwd", "tmp/"} {
		if _, ok := content[want]; !ok {
			t.Errorf("layer lacks %s; has %v", want, keys(content))
		}
	}
	// Same inputs, same bytes: containerd then keeps the image it already has.
	again, err := Build(context.Background(), t.TempDir(), Pause())
	if err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(tarPath)
	b, _ := os.ReadFile(again)
	if !bytes.Equal(a, b) {
		t.Error("two builds of the same image differ")
	}
}

func TestToolboxHasShell(t *testing.T) {
	tarPath, err := Build(context.Background(), t.TempDir(), Toolbox())
	if err != nil {
		t.Fatal(err)
	}
	files := readArchive(t, tarPath)
	for name, data := range files {
		if strings.HasSuffix(name, "/layer.tar") {
			content := readTar(t, bytes.NewReader(data))
			if string(content["bin/sh"]) != "-> busybox" {
				t.Errorf("bin/sh = %q", content["bin/sh"])
			}
			return
		}
	}
	t.Fatal("no layer")
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
