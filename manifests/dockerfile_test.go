package manifests

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/vault-injector/vault-injector/contract"
)

// webhookBinary is the webhook's entrypoint in its image.
const webhookBinary = "/usr/local/bin/vault-injector-webhook"

// nonRootUser is distroless's nonroot user; the Deployment runs as the same uid/gid.
const nonRootUser = "65532:65532"

// parseDockerfile parses a Dockerfile with buildkit's own parser and linter (what `docker
// build` runs); a lint warning fails the test.
func parseDockerfile(t *testing.T, path string) []instructions.Stage {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, w := range res.Warnings {
		t.Errorf("%s: parser warning: %s", path, w.Short)
	}
	lint := linter.New(&linter.Config{Warn: func(rule, desc, url, msg string, _ []parser.Range) {
		t.Errorf("%s: lint %s: %s", path, rule, msg)
	}})
	stages, _, err := instructions.Parse(res.AST, lint)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return stages
}

func TestDockerfiles(t *testing.T) {
	for _, tc := range []struct{ file, binary, pkg string }{
		{"Dockerfile.webhook", webhookBinary, "./webhook"},
		{"Dockerfile.agent", contract.AgentBinary, "./agent"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			stages := parseDockerfile(t, filepath.Join("..", tc.file))
			if len(stages) != 2 {
				t.Fatalf("want a builder and a final stage, got %d stages", len(stages))
			}
			checkBuildStage(t, stages[0], tc.binary, tc.pkg)
			checkFinalStage(t, stages[1], stages[0].Name, tc.binary)
		})
	}
}

func checkBuildStage(t *testing.T, s instructions.Stage, binary, pkg string) {
	t.Helper()
	if s.Name != "build" || !strings.HasPrefix(s.BaseName, "golang:") || s.Platform != "$BUILDPLATFORM" {
		t.Errorf("builder stage %q FROM %s --platform=%q; want golang on $BUILDPLATFORM (cross-compiling)", s.Name, s.BaseName, s.Platform)
	}
	var args []string
	var build *instructions.RunCommand
	for _, c := range s.Commands {
		switch c := c.(type) {
		case *instructions.ArgCommand:
			for _, a := range c.Args {
				args = append(args, a.Key)
			}
		case *instructions.RunCommand:
			if strings.Contains(strings.Join(c.CmdLine, " "), "go build") {
				build = c
			}
		}
	}
	for _, a := range []string{"TARGETOS", "TARGETARCH", "VERSION"} {
		if !slices.Contains(args, a) {
			t.Errorf("ARG %s missing", a)
		}
	}
	if build == nil {
		t.Fatal("no RUN go build")
	}
	// Mount options are only evaluated on expansion; they hold no variables.
	if err := build.Expand(func(w string) (string, error) { return w, nil }); err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, m := range instructions.GetMounts(build) {
		if m.Type == instructions.MountTypeCache {
			targets = append(targets, m.Target)
		}
	}
	if !slices.Contains(targets, "/go/pkg/mod") || !slices.Contains(targets, "/root/.cache/go-build") {
		t.Errorf("go build cache mounts %v, want the module and build caches", targets)
	}
	cmd := strings.Join(build.CmdLine, " ")
	for _, want := range []string{"CGO_ENABLED=0", "GOOS=${TARGETOS}", "GOARCH=${TARGETARCH}", "-trimpath",
		`-ldflags "-s -w -X main.version=${VERSION}"`, "-o /out/" + filepath.Base(binary) + " " + pkg} {
		if !strings.Contains(cmd, want) {
			t.Errorf("go build %q lacks %q", cmd, want)
		}
	}
}

func checkFinalStage(t *testing.T, s instructions.Stage, builder, binary string) {
	t.Helper()
	if !strings.HasPrefix(s.BaseName, "gcr.io/distroless/static") || !strings.HasSuffix(s.BaseName, ":nonroot") {
		t.Errorf("final stage FROM %s, want distroless static nonroot", s.BaseName)
	}
	var user string
	var entry []string
	var copied bool
	labels := map[string]bool{}
	for _, c := range s.Commands {
		switch c := c.(type) {
		case *instructions.UserCommand:
			user = c.User
		case *instructions.EntrypointCommand:
			if c.PrependShell {
				t.Errorf("ENTRYPOINT in shell form needs a shell, which distroless lacks")
			}
			entry = c.CmdLine
		case *instructions.CopyCommand:
			copied = copied || c.From == builder && c.DestPath == binary
		case *instructions.LabelCommand:
			for _, l := range c.Labels {
				labels[l.Key] = true
			}
		case *instructions.RunCommand:
			t.Errorf("RUN in the final stage: distroless has no shell")
		}
	}
	if user != nonRootUser {
		t.Errorf("USER %q, want %s", user, nonRootUser)
	}
	if !slices.Equal(entry, []string{binary}) || !copied {
		t.Errorf("ENTRYPOINT %v (binary copied from %s: %v), want [%s]", entry, builder, copied, binary)
	}
	for _, l := range []string{"title", "description", "source", "licenses", "version", "revision"} {
		if !labels["org.opencontainers.image."+l] {
			t.Errorf("OCI label org.opencontainers.image.%s missing", l)
		}
	}
}

// TestDockerfileBuildTargetsAreMains fails until ./webhook and ./agent hold main packages:
// otherwise the images cannot build.
func TestDockerfileBuildTargetsAreMains(t *testing.T) {
	for _, dir := range []string{"webhook", "agent"} {
		files, _ := filepath.Glob(filepath.Join("..", dir, "*.go"))
		if !slices.ContainsFunc(files, func(f string) bool {
			b, err := os.ReadFile(f)
			return err == nil && !strings.HasSuffix(f, "_test.go") && strings.Contains(string(b), "\npackage main\n")
		}) {
			t.Errorf("./%s has no main package to build", dir)
		}
	}
}

// TestDockerignoreKeepsSources: the build context must keep what go build needs and drop the
// rest.
func TestDockerignoreKeepsSources(t *testing.T) {
	b, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			rules = append(rules, l)
		}
	}
	for _, keep := range []string{"go.mod", "go.sum", "webhook", "agent", "certs", "*.go"} {
		if slices.Contains(rules, keep) {
			t.Errorf(".dockerignore drops %s, which the build needs", keep)
		}
	}
	for _, drop := range []string{".git", ".cache"} {
		if !slices.Contains(rules, drop) {
			t.Errorf(".dockerignore keeps %s in the build context", drop)
		}
	}
}
