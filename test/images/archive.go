package images

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"
)

// epoch is every entry's and the config's timestamp: identical inputs give identical archives,
// so containerd sees an unchanged image (same digest) across runs.
var epoch = time.Unix(0, 0).UTC()

// entry is one file, directory or symlink of the single image layer.
type entry struct {
	path string // absolute path inside the image
	mode int64
	data []byte // regular files
	link string // symlinks
	dir  bool
	uid  int
}

// writeArchive writes a `docker save`-format archive (manifest.json, config, one uncompressed
// layer), which `ctr images import` reads and names after RepoTags.
func writeArchive(w io.Writer, ref string, cfg imageConfig, entries []entry) error {
	layer, err := layerTar(entries)
	if err != nil {
		return err
	}
	diffID := sha256.Sum256(layer)
	cfg.RootFS.DiffIDs = []string{"sha256:" + hex.EncodeToString(diffID[:])}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("encoding image config for %s: %w", ref, err)
	}
	cfgSum := sha256.Sum256(cfgJSON)
	cfgName := hex.EncodeToString(cfgSum[:]) + ".json"
	layerName := hex.EncodeToString(diffID[:]) + "/layer.tar"
	manifest, err := json.Marshal([]map[string]any{{
		"Config": cfgName, "RepoTags": []string{ref}, "Layers": []string{layerName},
	}})
	if err != nil {
		return fmt.Errorf("encoding manifest for %s: %w", ref, err)
	}
	tw := tar.NewWriter(w)
	for _, f := range []struct {
		name string
		data []byte
	}{{cfgName, cfgJSON}, {layerName, layer}, {"manifest.json", manifest}} {
		if err := writeFile(tw, f.name, f.data); err != nil {
			return fmt.Errorf("writing %s of %s: %w", f.name, ref, err)
		}
	}
	return tw.Close()
}

func writeFile(tw *tar.Writer, name string, data []byte) error {
	if dir := path.Dir(name); dir != "." {
		hdr := &tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755, ModTime: epoch}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: epoch}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

// layerTar renders the entries, plus every parent directory they need, sorted so that a
// directory always precedes its contents.
func layerTar(entries []entry) ([]byte, error) {
	byPath := map[string]entry{}
	for _, e := range entries {
		for dir := path.Dir(e.path); dir != "/"; dir = path.Dir(dir) {
			if _, ok := byPath[dir]; !ok {
				byPath[dir] = entry{path: dir, dir: true, mode: 0o755}
			}
		}
		byPath[e.path] = e
	}
	paths := make([]string, 0, len(byPath))
	for p := range byPath {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range paths {
		e := byPath[p]
		hdr := &tar.Header{Name: strings.TrimPrefix(p, "/"), Mode: e.mode, ModTime: epoch, Uid: e.uid, Gid: e.uid, Format: tar.FormatPAX}
		switch {
		case e.dir:
			hdr.Typeflag, hdr.Name = tar.TypeDir, hdr.Name+"/"
		case e.link != "":
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, e.link
		default:
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("layer entry %s: %w", p, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("layer entry %s: %w", p, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// imageConfig is the subset of the OCI/Docker image configuration that the runtime reads.
type imageConfig struct {
	Architecture string       `json:"architecture"`
	OS           string       `json:"os"`
	Created      time.Time    `json:"created"`
	Config       runConfig    `json:"config"`
	RootFS       rootFS       `json:"rootfs"`
	History      []historyRow `json:"history"`
}

type runConfig struct {
	User       string   `json:"User"`
	Entrypoint []string `json:"Entrypoint"`
	Cmd        []string `json:"Cmd,omitempty"`
	Env        []string `json:"Env"`
	WorkingDir string   `json:"WorkingDir"`
}

type rootFS struct {
	Type    string   `json:"type"`
	DiffIDs []string `json:"diff_ids"`
}

type historyRow struct {
	Created   time.Time `json:"created"`
	CreatedBy string    `json:"created_by"`
}

func newConfig(img Image) imageConfig {
	return imageConfig{
		Architecture: runtime.GOARCH,
		OS:           "linux",
		Created:      epoch,
		Config: runConfig{
			User:       img.user(),
			Entrypoint: img.Entrypoint,
			Cmd:        img.Cmd,
			Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
			WorkingDir: "/",
		},
		RootFS:  rootFS{Type: "layers"},
		History: []historyRow{{Created: epoch, CreatedBy: "vault-injector test/images"}},
	}
}

// baseEntries is what the distroless static base offers that our binaries may rely on: a
// nonroot user in /etc/passwd (for tools that look the user up) and a sticky /tmp.
func baseEntries() []entry {
	return []entry{
		{path: "/etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{path: "/etc/group", mode: 0o644, data: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{path: "/home/nonroot", dir: true, mode: 0o700, uid: NonRoot},
		{path: "/tmp", dir: true, mode: 0o1777},
	}
}

// fileEntry reads a host file into a layer entry.
func fileEntry(src, dst string, mode int64) (entry, error) {
	data, err := os.ReadFile(src)
	if err != nil {
		return entry{}, fmt.Errorf("reading %s for the image: %w", src, err)
	}
	return entry{path: dst, mode: mode, data: data}, nil
}
