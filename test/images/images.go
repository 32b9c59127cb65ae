// Package images builds the container images the test cluster runs, as `docker save`-format
// tarballs made from the project's own binaries: there is no registry and no container engine
// on the machines the tests run on, so images are built here and imported into containerd.
//
// Every image is one layer on an empty base: static binaries, a nonroot user (65532:65532, as
// distroless) and the same entrypoint paths as the Dockerfiles.
package images

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/vault-injector/vault-injector/contract"
)

const (
	// Registry prefixes every image name. It resolves nowhere, so a pod that would pull fails
	// at once instead of reaching out.
	Registry = "vault-injector.local"
	// Tag is every image's tag: never "latest", which the kubelet would always try to pull.
	Tag = "test"
	// NonRoot is the user and group the images run as (distroless's nonroot).
	NonRoot = 65532

	WebhookBinary   = "/usr/local/bin/vault-injector-webhook"
	TokenizerBinary = "/usr/local/bin/tokenizer"
	PauseBinary     = "/pause"
	// BusyboxSource is Debian's busybox-static, installed by test/tools/install.sh.
	BusyboxSource = "/bin/busybox"
)

// Binary is a Go main package built statically into an image.
type Binary struct {
	// Package is a package path, relative to the repository root ("./test/tokenizer") or full.
	Package string
	// Path is where the binary lands in the image.
	Path string
}

// Image describes one image.
type Image struct {
	// Name is the repository part of the reference: Registry/Name:Tag.
	Name       string
	Binaries   []Binary
	Entrypoint []string
	Cmd        []string
	// Busybox adds the static busybox with one /bin link per applet (sh, cat, ls, stat, ...),
	// for test containers that need a shell. Product images never have it.
	Busybox bool
	// User overrides "65532:65532".
	User string
}

// Ref is the image reference pods use.
func (i Image) Ref() string { return Registry + "/" + i.Name + ":" + Tag }

func (i Image) user() string {
	if i.User != "" {
		return i.User
	}
	id := strconv.Itoa(NonRoot)
	return id + ":" + id
}

// Pause is the pod sandbox image (see ./pause).
func Pause() Image {
	return Image{Name: "pause", Binaries: []Binary{{"./test/images/pause", PauseBinary}}, Entrypoint: []string{PauseBinary}}
}

// Tokenizer is scenario 8's test app (see test/tokenizer).
func Tokenizer() Image {
	return Image{Name: "tokenizer", Binaries: []Binary{{"./test/tokenizer", TokenizerBinary}}, Entrypoint: []string{TokenizerBinary}}
}

// Agent is the agent image built from the given main package, entrypoint contract.AgentBinary.
func Agent(pkg string) Image {
	return Image{Name: "agent", Binaries: []Binary{{pkg, contract.AgentBinary}}, Entrypoint: []string{contract.AgentBinary}}
}

// Webhook is the webhook image built from the given main package.
func Webhook(pkg string) Image {
	return Image{Name: "webhook", Binaries: []Binary{{pkg, WebhookBinary}}, Entrypoint: []string{WebhookBinary}}
}

// Toolbox is a busybox shell image for test pods that inspect what a container sees
// (`sh -c 'stat -c %a /vault/secrets/x'`). Use `nc` for network checks: Debian's static
// busybox `wget` segfaults on these hosts.
func Toolbox() Image {
	return Image{Name: "toolbox", Busybox: true, Entrypoint: []string{"/bin/sh"}}
}

// RepoRoot is the repository this file belongs to; binaries are built from there.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Build compiles img's binaries and writes outDir/<name>.tar, returning its path. Identical
// inputs give a byte-identical archive.
func Build(ctx context.Context, outDir string, img Image) (string, error) {
	binDir := filepath.Join(outDir, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", err
	}
	entries := baseEntries()
	for _, b := range img.Binaries {
		out := filepath.Join(binDir, img.Name+"-"+filepath.Base(b.Path))
		if err := goBuild(ctx, b.Package, out); err != nil {
			return "", err
		}
		e, err := fileEntry(out, b.Path, 0o755)
		if err != nil {
			return "", err
		}
		entries = append(entries, e)
	}
	if img.Busybox {
		bb, err := busyboxEntries(ctx)
		if err != nil {
			return "", err
		}
		entries = append(entries, bb...)
	}
	var buf bytes.Buffer
	if err := writeArchive(&buf, img.Ref(), newConfig(img), entries); err != nil {
		return "", err
	}
	tarPath := filepath.Join(outDir, img.Name+".tar")
	// Write then rename: a concurrent reader never imports half an archive.
	tmp := tarPath + ".tmp" + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return "", err
	}
	return tarPath, os.Rename(tmp, tarPath)
}

// goBuild builds a static linux binary; the go build cache makes repeated calls cheap.
func goBuild(ctx context.Context, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, pkg)
	cmd.Dir = RepoRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// busyboxEntries adds the busybox binary and a symlink per applet it lists.
func busyboxEntries(ctx context.Context) ([]entry, error) {
	bin, err := fileEntry(BusyboxSource, "/bin/busybox", 0o755)
	if err != nil {
		return nil, fmt.Errorf("%w (install busybox-static: test/tools/install.sh debs)", err)
	}
	list, err := exec.CommandContext(ctx, BusyboxSource, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("listing busybox applets: %w", err)
	}
	entries := []entry{bin}
	for _, applet := range strings.Fields(string(list)) {
		if applet != "busybox" && !strings.Contains(applet, "/") {
			entries = append(entries, entry{path: "/bin/" + applet, mode: 0o777, link: "busybox"})
		}
	}
	return entries, nil
}
