package stack

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AppNamespace creates namespace ns with the AppServiceAccount that Vault's roles trust.
func (s *Stack) AppNamespace(ctx context.Context, ns string) error {
	if err := s.Cluster.CreateNamespace(ctx, ns); err != nil {
		return err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: AppServiceAccount}}
	_, err := s.Cluster.Clientset().CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// AppPod waits for the first pod labelled app=<app> that a controller creates in ns and
// returns its name.
func (s *Stack) AppPod(ctx context.Context, ns, app string) (string, error) {
	for {
		pods, err := s.Cluster.Clientset().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
		if err == nil && len(pods.Items) > 0 {
			return pods.Items[0].Name, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("no pod for %s/%s: %w", ns, app, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
