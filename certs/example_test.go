package certs_test

import (
	"context"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"

	"github.com/vault-injector/vault-injector/certs"
)

// How the webhook's main uses a Manager with --tls-self-managed: keep the certificates in the
// background and start serving once the first one is on disk (the TLS server's cert watcher
// needs the files to exist).
func ExampleNewManager() {
	var log logr.Logger // the webhook's logger
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return
	}
	clients, err := certs.ClientsForConfig(cfg)
	if err != nil {
		return
	}
	m, err := certs.NewManager(clients, certs.Options{
		Namespace:         "vault-injector",     // --namespace (POD_NAMESPACE)
		SecretName:        "vault-injector-tls", // --tls-secret
		ServiceName:       "vault-injector",     // --service-name
		WebhookConfigName: "vault-injector",     // --webhook-config-name
		CertDir:           "/var/run/vault-injector/tls",
		Log:               log.WithName("certs"),
	})
	if err != nil {
		return
	}
	beforeServe := func(ctx context.Context) error {
		go func() { _ = m.Run(ctx) }() // ends with ctx; logs and retries API errors itself
		return m.WaitReady(ctx)
	}
	_ = beforeServe // e.g. server.Run(ctx, cfg, log, beforeServe)
}
