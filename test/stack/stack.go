// Package stack runs the whole vault-injector flow on real parts: the test cluster
// (test/cluster), a Vault dev server (test/vaultserver) that pods reach on the bridge gateway,
// with the kubernetes auth method pointed at the cluster's API server, and the webhook as a
// process registered through the dev overlay's MutatingWebhookConfiguration. The cluster routes
// Services (kube-proxy), so the shipped install can replace the process for a while
// (InstallKustomize, InstallHelm). The e2e suite and `make demo` both stand on it.
package stack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vault-injector/vault-injector/test/cluster"
	"github.com/vault-injector/vault-injector/test/images"
	"github.com/vault-injector/vault-injector/test/testbin"
	"github.com/vault-injector/vault-injector/test/vaultserver"
)

// Vault-side names the stack configures.
const (
	AuthMount         = "kubernetes"
	Role              = "app"       // bound to service account AppServiceAccount in any namespace
	ShortRole         = "app-short" // same, with a 20 s token that must be renewed and replaced
	Policy            = "app-read"  // read secret/data/e2e/*
	AppServiceAccount = "app"
	SecretPrefix      = "secret/e2e/"
)

// Options configure Up.
type Options struct {
	Logf func(format string, args ...any)
	// Detached keeps the cluster alive past this process (make demo).
	Detached bool
}

// Stack is a running stack.
type Stack struct {
	Cluster  *cluster.Cluster
	Vault    *vaultserver.Server
	VaultAPI *api.Client // root token
	// VaultAddr is how pods reach Vault: the bridge gateway.
	VaultAddr string
	AuditLog  string
	Dir       string
	Webhook   *Webhook

	AgentImage, TokenizerImage, ToolboxImage images.Image
	logf                                     func(string, ...any)
	webhookImported                          bool // the product's webhook image, built once
}

// Up brings everything up; on failure it tears down what it started.
func Up(ctx context.Context, o Options) (s *Stack, err error) {
	if o.Logf == nil {
		o.Logf = func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "[stack %s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
		}
	}
	dir, err := os.MkdirTemp("", "vi-stack-")
	if err != nil {
		return nil, err
	}
	s = &Stack{Dir: dir, logf: o.Logf, AuditLog: filepath.Join(dir, "vault-audit.log"),
		AgentImage: images.Agent("./agent"), TokenizerImage: images.Tokenizer(), ToolboxImage: images.Toolbox()}
	defer func() {
		if err != nil {
			o.Logf("bring-up failed, tearing down: %v", err)
			_ = s.Down()
			s = nil
		}
	}()
	s.Cluster, err = cluster.Start(ctx, cluster.Options{Logf: o.Logf, Detached: o.Detached, ServiceRouting: true})
	if err != nil {
		return s, err
	}
	o.Logf("building and importing the agent, tokenizer and toolbox images")
	if err := s.Cluster.BuildAndImport(ctx, s.AgentImage, s.TokenizerImage, s.ToolboxImage); err != nil {
		return s, err
	}
	vaultBin, err := testbin.Path("vault")
	if err != nil {
		return s, err
	}
	o.Logf("starting Vault on the bridge gateway %s", s.Cluster.Gateway)
	s.Vault, err = vaultserver.Start(ctx, vaultserver.Options{Binary: vaultBin, ListenAddr: s.Cluster.Gateway, Dir: filepath.Join(dir, "vault")})
	if err != nil {
		return s, err
	}
	s.VaultAddr = s.Vault.Addr
	if s.VaultAPI, err = s.Vault.Client(); err != nil {
		return s, err
	}
	if err := s.ConfigureVault(ctx); err != nil {
		return s, err
	}
	o.Logf("starting the webhook and registering it")
	if s.Webhook, err = startWebhook(ctx, s, nil); err != nil {
		return s, err
	}
	if err := s.registerWebhook(ctx); err != nil {
		return s, err
	}
	return s, nil
}

// Down stops everything Up started, the webhook first, the cluster last.
func (s *Stack) Down() error {
	var errs []error
	if s.Webhook != nil {
		errs = append(errs, s.Webhook.Stop())
	}
	if s.Vault != nil {
		errs = append(errs, s.Vault.Stop())
	}
	if s.Cluster != nil {
		errs = append(errs, s.Cluster.Stop())
	}
	if err := errors.Join(errs...); err != nil {
		return err // keep the logs for a look
	}
	return os.RemoveAll(s.Dir)
}
