// Package cli is the agent's command line: `run [--once] [--config FILE]`, `ready [--config
// FILE]` and `version`. main only wires signals and the process exit code to Main, so tests run
// the same code in-process.
package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	"github.com/vault-injector/vault-injector/agent/metrics"
	"github.com/vault-injector/vault-injector/agent/nodump"
	"github.com/vault-injector/vault-injector/agent/run"
	"github.com/vault-injector/vault-injector/agent/vault"
	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/internal/atomicdir"
)

// Exit codes.
const (
	ExitOK    = 0
	ExitFail  = 1 // no complete render (--once), bad config, not ready
	ExitUsage = 2
)

// Version is the build's version; agent/main.go sets it from -ldflags "-X main.version=…".
var Version = "dev"

// TerminationLog is where Kubernetes reads a container's last words for `kubectl describe`
// (the default terminationMessagePath). Written only if it already exists.
var TerminationLog = "/dev/termination-log"

const prog = "vault-injector-agent"

// Main runs one subcommand. Logs (JSON) go to stdout; stderr carries only the single line that
// explains a failure, so `kubectl logs` and the termination message show the reason plainly.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return ExitUsage
	}
	switch args[0] {
	case contract.AgentCmdRun:
		return cmdRun(ctx, args[1:], stdout, stderr)
	case contract.AgentCmdReady:
		return cmdReady(args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, prog, version())
		return ExitOK
	}
	usage(stderr)
	return ExitUsage
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: %s run [--once] [--config FILE] | ready [--config FILE] | version\n", prog)
}

func version() string {
	if Version != "dev" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return "dev-" + s.Value
			}
		}
	}
	return Version
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	once := fs.Bool(strings.TrimPrefix(contract.AgentFlagOnce, "--"), false, "render once, hand the token over, exit")
	file := fs.String(strings.TrimPrefix(contract.AgentFlagConf, "--"), contract.ConfigFile, "agent config (JSON)")
	if err := fs.Parse(args); err != nil {
		return ExitUsage
	}
	log := slog.New(slog.NewJSONHandler(stdout, nil)).With("mode", mode(*once))
	if nodump.Err != nil {
		log.Warn("could not make the agent non-dumpable", "err", nodump.Err.Error())
	}
	cfg, err := contract.Load(*file)
	if err != nil {
		return fail(stderr, err)
	}
	vc, err := vault.New(cfg)
	if err != nil {
		return fail(stderr, err)
	}
	m := metrics.New()
	m.SetBuildInfo(version())
	vc.SetObserver(m.Vault)
	if cfg.MetricsPort > 0 && !*once {
		serve := m.Serve
		if cfg.MetricsListen == contract.MetricsListenPod {
			serve = m.ServePod
		}
		addr, err := serve(ctx, cfg.MetricsPort, log)
		if err != nil {
			return fail(stderr, err)
		}
		log.Info("metrics endpoint listening", "addr", addr)
	}
	r, err := run.New(run.Options{Config: cfg, Vault: vc, Login: vault.NewMethod(vc, cfg.Auth), Metrics: m, Log: log, Once: *once})
	if err != nil {
		return fail(stderr, err)
	}
	log.Info("agent starting", "version", version(), "secrets", len(cfg.Secrets), "auth", cfg.Auth.Path)
	if err := r.Run(ctx); err != nil {
		log.Error("agent failed", "err", err.Error())
		return fail(stderr, err)
	}
	log.Info("agent done")
	return ExitOK
}

func mode(once bool) string {
	if once {
		return "once"
	}
	return "sidecar"
}

// fail prints err as one line on stderr and in the termination log.
func fail(stderr io.Writer, err error) int {
	line := prog + ": " + strings.Join(strings.Fields(err.Error()), " ")
	fmt.Fprintln(stderr, line)
	if f, ferr := os.OpenFile(TerminationLog, os.O_WRONLY|os.O_TRUNC, 0); ferr == nil {
		_, _ = f.WriteString(line + "\n")
		_ = f.Close()
	}
	return ExitFail
}

// cmdReady is the startup probe: exit 0 only once a complete set of files is published. The
// marker is atomicdir's ..data link: it appears with the first complete set and stays.
func cmdReady(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ready", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String(strings.TrimPrefix(contract.AgentFlagConf, "--"), contract.ConfigFile, "agent config (JSON)")
	if err := fs.Parse(args); err != nil {
		return ExitUsage
	}
	// No fail() here: a probe must not overwrite the agent's termination message.
	cfg, err := contract.Load(*file)
	if err != nil {
		fmt.Fprintln(stderr, "not ready:", err)
		return ExitFail
	}
	if err := atomicdir.Ready(cfg.SecretsDir); err != nil {
		fmt.Fprintln(stderr, "not ready:", err)
		return ExitFail
	}
	fmt.Fprintln(stdout, "ready")
	return ExitOK
}
