// Command webhook is vault-injector's mutating admission webhook. `webhook [serve] [flags]`
// serves it; `webhook inject -f FILE` previews what it does to manifests; `webhook migrate -f
// FILE` rewrites vault-k8s annotations into vault-injector.io ones.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/go-logr/logr"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/vault-injector/vault-injector/certs"

	"github.com/vault-injector/vault-injector/webhook/config"
	"github.com/vault-injector/vault-injector/webhook/preview"
	"github.com/vault-injector/vault-injector/webhook/server"
)

// version is stamped at build time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Main runs a subcommand and returns the exit status.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(ctx, args, stderr)
	case "inject":
		err = inject(args, stdin, stdout, stderr)
	case "migrate":
		err = migrateCmd(args, stdin, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, version)
	default:
		err = fmt.Errorf("unknown command %q: use serve, inject, migrate or version", cmd)
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errReported):
		return 1
	}
	fmt.Fprintln(stderr, "error:", err)
	return 1
}

// errReported means the details are already on stderr.
var errReported = errors.New("reported")

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return config.ApplyEnv(fs)
}

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	cfg := config.New()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.Inject.AgentImage = config.AgentImage(version)
	cfg.BindInjection(fs)
	cfg.BindServer(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	log := newLogger(stderr, cfg.LogLevel)
	var source server.CertSource
	if cfg.TLSSelfManaged {
		m, err := selfManagedCerts(cfg, log)
		if err != nil {
			return err
		}
		source = m
	}
	return server.Run(ctx, cfg, log, source)
}

// selfManagedCerts keeps the CA and serving certificate in a Secret, the cert dir and the
// webhook configuration's caBundle (see certs.Manager).
func selfManagedCerts(cfg config.Config, log logr.Logger) (*certs.Manager, error) {
	rest, err := ctrlconfig.GetConfig()
	if err != nil {
		return nil, fmt.Errorf("self-managed TLS needs API access (or --tls-self-managed=false): %w", err)
	}
	clients, err := certs.ClientsForConfig(rest)
	if err != nil {
		return nil, err
	}
	return certs.NewManager(clients, certs.Options{
		Namespace:         cfg.Namespace,
		SecretName:        cfg.TLSSecret,
		ServiceName:       cfg.ServiceName,
		WebhookConfigName: cfg.WebhookConfigName,
		CertDir:           cfg.TLSDir,
		Log:               log.WithName("certs"),
	})
}

func inject(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg := config.New()
	fs := flag.NewFlagSet("inject", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files stringList
	fs.Var(&files, "f", "manifest file (YAML or JSON, multi-document; - for stdin); repeatable")
	// A preview needs no real Vault: the installed manifests' address keeps `inject -f` usable
	// without flags, and with the binary's defaults it shows what the installed webhook does.
	cfg.Inject.VaultAddr = config.DefaultVaultAddr
	cfg.Inject.AgentImage = config.AgentImage(version)
	cfg.BindInjection(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if len(files) == 0 {
		return errors.New("inject needs at least one -f FILE (or -f - for stdin)")
	}
	if err := cfg.LoadInjection(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	var res preview.Result
	for i, name := range files {
		if i > 0 {
			fmt.Fprintln(stdout, "---")
		}
		if err := injectFile(name, stdin, cfg, stdout, &res); err != nil {
			return err
		}
	}
	for _, w := range res.Warnings {
		fmt.Fprintln(stderr, "Warning:", w)
	}
	for _, e := range res.Errors {
		fmt.Fprintln(stderr, "error:", e)
	}
	if len(res.Errors) > 0 {
		return errReported
	}
	return nil
}

func injectFile(name string, stdin io.Reader, cfg config.Config, stdout io.Writer, res *preview.Result) error {
	in := stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	return preview.Inject(name, in, cfg.Inject, stdout, res)
}

func newLogger(w io.Writer, level string) logr.Logger {
	lv := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "error": slog.LevelError}[level]
	return logr.FromSlogHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv}))
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }
