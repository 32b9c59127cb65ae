// Command vault-injector-agent is the agent the webhook injects into pods: it logs in to Vault,
// renders the pod's secrets into files, and keeps them fresh. See docs/agent.md.
package main

import (
	// The process is non-dumpable before main runs: before any flag, file or token is read.
	_ "github.com/vault-injector/vault-injector/agent/nodump"

	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/vault-injector/vault-injector/agent/cli"
)

// version is set by the build (Makefile, Dockerfile.agent): -ldflags "-X main.version=v1.2.3".
var version = "dev"

// memoryLimit is the Go runtime's soft memory limit unless GOMEMLIMIT says otherwise: the agent
// keeps little alive, but every retry of a large Vault answer leaves buffers behind, and with
// the default GC pacing the heap grows to twice the live data before they are collected.
const memoryLimit = 24 << 20

func main() {
	cli.Version = version
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	// SIGTERM is how the kubelet stops the sidecar: stop refreshing, revoke, exit 0.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
