package stack

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/vault/api"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

const reviewerNamespace = "vault-auth"

// ConfigureVault sets Vault up as a platform team would: a file audit device (so tests can
// count logins), the kubernetes auth method checking tokens through a reviewer service account
// bound to system:auth-delegator, a read policy and the roles. Run it again after a Vault
// restart: the dev server keeps its state in memory.
func (s *Stack) ConfigureVault(ctx context.Context) error {
	jwt, err := s.reviewerToken(ctx)
	if err != nil {
		return err
	}
	ca, err := os.ReadFile(s.Cluster.CAFile)
	if err != nil {
		return err
	}
	sys := s.VaultAPI.Sys()
	if err := sys.EnableAuditWithOptionsWithContext(ctx, "file", &api.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": s.AuditLog, "log_raw": "true"}}); err != nil {
		return fmt.Errorf("enabling the audit log: %w", err)
	}
	if err := sys.EnableAuthWithOptionsWithContext(ctx, AuthMount, &api.EnableAuthOptions{Type: "kubernetes"}); err != nil {
		return fmt.Errorf("enabling kubernetes auth: %w", err)
	}
	logical := s.VaultAPI.Logical()
	writes := []struct {
		path string
		data map[string]any
	}{
		{"auth/" + AuthMount + "/config", map[string]any{
			"kubernetes_host": s.Cluster.APIServerURL, "kubernetes_ca_cert": string(ca), "token_reviewer_jwt": jwt,
		}},
		{"auth/" + AuthMount + "/role/" + Role, map[string]any{
			"bound_service_account_names": AppServiceAccount, "bound_service_account_namespaces": "*",
			"token_policies": Policy, "token_ttl": "1h",
		}},
		{"auth/" + AuthMount + "/role/" + ShortRole, map[string]any{
			"bound_service_account_names": AppServiceAccount, "bound_service_account_namespaces": "*",
			"token_policies": Policy, "token_ttl": "20s", "token_max_ttl": "40s",
		}},
	}
	if err := sys.PutPolicyWithContext(ctx, Policy, `path "secret/data/e2e/*" { capabilities = ["read"] }`); err != nil {
		return err
	}
	for _, w := range writes {
		if _, err := logical.WriteWithContext(ctx, w.path, w.data); err != nil {
			return fmt.Errorf("writing %s: %w", w.path, err)
		}
	}
	return nil
}

// reviewerToken makes the service account Vault uses to review pod tokens.
func (s *Stack) reviewerToken(ctx context.Context) (string, error) {
	cs := s.Cluster.Clientset()
	ignoreExists := func(err error) error {
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: reviewerNamespace}}, metav1.CreateOptions{}); ignoreExists(err) != nil {
		return "", err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "vault-reviewer", Namespace: reviewerNamespace}}
	if _, err := cs.CoreV1().ServiceAccounts(reviewerNamespace).Create(ctx, sa, metav1.CreateOptions{}); ignoreExists(err) != nil {
		return "", err
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "vault-reviewer-auth-delegator"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "system:auth-delegator"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa.Name, Namespace: reviewerNamespace}},
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); ignoreExists(err) != nil {
		return "", err
	}
	tr, err := cs.CoreV1().ServiceAccounts(reviewerNamespace).CreateToken(ctx, sa.Name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64((24 * time.Hour).Seconds()))},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token for the Vault reviewer: %w", err)
	}
	return tr.Status.Token, nil
}

// WriteSecret writes KV v2 data under SecretPrefix (e.g. name "app" is secret/e2e/app).
func (s *Stack) WriteSecret(ctx context.Context, name string, data map[string]any) error {
	_, err := s.VaultAPI.KVv2("secret").Put(ctx, "e2e/"+name, data)
	return err
}
