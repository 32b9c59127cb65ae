// Package e2e proves vault-injector on real parts: a real single-node cluster (etcd,
// kube-apiserver, controller-manager, scheduler, kubelet, containerd, runc, CNI bridge), a
// real Vault with the kubernetes auth method pointed at that API server, and the webhook
// registered through the dev overlay's MutatingWebhookConfiguration. Every scenario runs real
// pods and checks what the app container sees.
package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/vault-injector/vault-injector/test/stack"
)

var st *stack.Stack

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	began := time.Now()
	s, err := stack.Up(ctx, stack.Options{})
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: bringing up the stack: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "e2e: stack up in %s (cluster %s)\n", time.Since(began).Round(time.Second), s.Cluster.BringUp.Round(time.Second))
	st = s
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "e2e: logs kept in %s and %s\n", s.Cluster.LogDir(), s.Dir)
	}
	if err := s.Down(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: tear-down: %v\n", err)
		code = 1
	}
	os.Exit(code)
}
