package certs

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
)

// managedByLabel marks the Secret so operators know who rewrites it, and the webhook which
// Secret is its own: it never takes over one without the mark.
const (
	managedByLabel = "app.kubernetes.io/managed-by"
	managedByValue = "vault-injector"
)

// reconcile brings the Secret, the cert dir and the caBundle in line once, and returns when
// it next needs to run.
func (m *Manager) reconcile(ctx context.Context) (time.Time, error) {
	st, err := m.syncSecret(ctx)
	if err != nil {
		return time.Time{}, err
	}
	if st == nil {
		// Another replica wrote first: read what it wrote at once and serve that.
		return m.opts.Now(), nil
	}
	changed, err := writeFiles(m.opts.CertDir, map[string][]byte{
		KeyCert:     st.Leaf.CertPEM,
		KeyKey:      st.Leaf.KeyPEM,
		KeyCABundle: st.bundle(),
	})
	if err != nil {
		return time.Time{}, err
	}
	if changed {
		m.log.Info("Serving certificate written", "dir", m.opts.CertDir,
			"serial", st.Leaf.Cert.SerialNumber.Text(16), "notAfter", st.Leaf.Cert.NotAfter)
	}
	select {
	case <-m.ready:
	default:
		close(m.ready)
	}
	if err := m.syncCABundle(ctx, st.bundle()); err != nil {
		return time.Time{}, err
	}
	if st.NextCA != nil && m.published(st).IsZero() {
		// The bundle with the next CA is in place (or there is no configuration to wait for):
		// the propagation delay runs from now.
		m.next = publishedCA{raw: st.NextCA.Cert.Raw, at: m.opts.Now()}
	}
	return m.pol.wake(st, m.published(st)), nil
}

// publishedCA records when this replica saw a caBundle holding the next CA in place.
type publishedCA struct {
	raw []byte
	at  time.Time
}

// published is when s.NextCA was known to be in the caBundle, or zero.
func (m *Manager) published(s *state) time.Time {
	if s == nil || s.NextCA == nil || !bytes.Equal(m.next.raw, s.NextCA.Cert.Raw) {
		return time.Time{}
	}
	return m.next.at
}

// syncSecret reads the Secret, replaces it when unusable and renews what is due. It returns
// nil (and no error) when another replica changed the Secret first.
func (m *Manager) syncSecret(ctx context.Context) (*state, error) {
	sec, cur, repair, err := m.readSecret(ctx)
	if err != nil {
		return nil, err
	}
	next, why, err := m.pol.step(m.opts.Now(), cur, m.published(cur))
	if err != nil {
		return nil, err
	}
	if why == nil && len(repair) > 0 {
		next, why = cur, []string{"unusable entries rewritten"}
	}
	if why == nil {
		return cur, nil
	}
	if written, err := m.writeSecret(ctx, sec, next); err != nil || !written {
		return nil, err
	}
	m.log.Info("TLS Secret updated", "reasons", strings.Join(why, "; "),
		"caNotAfter", next.CA.Cert.NotAfter, "leafNotAfter", next.Leaf.Cert.NotAfter,
		"rolloverInProgress", next.NextCA != nil)
	return next, nil
}

// readSecret reads the Secret (nil when there is none) and what of it can be used: cur (nil
// without a Secret) and the problems of the entries that cannot, which make it be rewritten.
// A Secret vault-injector did not create is an error: it is never overwritten.
func (m *Manager) readSecret(ctx context.Context) (*corev1.Secret, *state, []string, error) {
	sec, err := m.clients.Secrets.Secrets(m.opts.Namespace).Get(ctx, m.opts.SecretName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil, nil, nil
	case err != nil:
		return nil, nil, nil, fmt.Errorf("reading TLS Secret %s/%s: %w", m.opts.Namespace, m.opts.SecretName, err)
	}
	if sec.Labels[managedByLabel] != managedByValue {
		return nil, nil, nil, fmt.Errorf("TLS Secret %s/%s was not created by vault-injector (it lacks the label %s=%s), so it is not overwritten: "+
			"delete it and the webhook creates its own, set --tls-secret to another name, or add that label to hand it over",
			m.opts.Namespace, m.opts.SecretName, managedByLabel, managedByValue)
	}
	cur, problems := salvageState(sec.Data)
	if len(problems) > 0 {
		m.log.Info("Repairing TLS Secret: some entries cannot be used", "reason", strings.Join(problems, "; "),
			"caKept", cur.CA != nil)
	}
	return sec, cur, problems, nil
}

// writeSecret creates the Secret (sec nil) or replaces sec's data with next. written is false
// without an error when another replica wrote it first.
func (m *Manager) writeSecret(ctx context.Context, sec *corev1.Secret, next *state) (written bool, err error) {
	secrets := m.clients.Secrets.Secrets(m.opts.Namespace)
	if sec == nil {
		_, err = secrets.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{
				Name:      m.opts.SecretName,
				Namespace: m.opts.Namespace,
				Labels:    map[string]string{managedByLabel: managedByValue},
			},
			Type: corev1.SecretTypeTLS,
			Data: next.data(),
		}, metav1.CreateOptions{})
	} else {
		upd := sec.DeepCopy()
		upd.Data = next.data() // upd keeps sec's resourceVersion: a concurrent write conflicts
		_, err = secrets.Update(ctx, upd, metav1.UpdateOptions{})
	}
	switch {
	case apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err):
		m.log.V(1).Info("Another replica wrote the TLS Secret first; using its certificates")
		return false, nil
	case apierrors.IsInvalid(err) && sec != nil:
		// Most likely a Secret of another type: the type is immutable.
		return false, fmt.Errorf("TLS Secret %s/%s (type %q) cannot be rewritten; delete it and it is recreated: %w",
			m.opts.Namespace, m.opts.SecretName, sec.Type, err)
	case err != nil:
		return false, fmt.Errorf("writing TLS Secret %s/%s: %w", m.opts.Namespace, m.opts.SecretName, err)
	}
	return true, nil
}

// syncCABundle sets the bundle on every webhook of the configuration. Update carries the
// resourceVersion read just before, so replicas never overwrite each other's newer edits blindly.
func (m *Manager) syncCABundle(ctx context.Context, bundle []byte) error {
	if m.opts.WebhookConfigName == "" {
		return nil
	}
	api := m.clients.WebhookConfigs.MutatingWebhookConfigurations()
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cfg, err := api.Get(ctx, m.opts.WebhookConfigName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			// Not fatal: the webhook can serve before the configuration is applied.
			if !m.warnedNoConfig {
				m.log.Info("MutatingWebhookConfiguration not found; its caBundle is set once it exists",
					"webhookConfig", m.opts.WebhookConfigName)
				m.warnedNoConfig = true
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading MutatingWebhookConfiguration %s: %w", m.opts.WebhookConfigName, err)
		}
		m.warnedNoConfig = false
		changed := false
		for i := range cfg.Webhooks {
			if !bytes.Equal(cfg.Webhooks[i].ClientConfig.CABundle, bundle) {
				cfg.Webhooks[i].ClientConfig.CABundle = bundle
				changed = true
			}
		}
		if !changed {
			return nil
		}
		if _, err := api.Update(ctx, cfg, metav1.UpdateOptions{}); err != nil {
			return err
		}
		m.log.Info("caBundle updated", "webhookConfig", m.opts.WebhookConfigName, "webhooks", len(cfg.Webhooks))
		return nil
	})
}

// watchSecret signals changed whenever the Secret changes, so a replica picks up another
// replica's renewal within moments instead of at the next resync. The list/watch is narrowed
// to the one name, which is what lets RBAC restrict list/watch by resourceNames. The informer
// runs until ctx ends; the returned channel is closed once it has stopped.
func (m *Manager) watchSecret(ctx context.Context, changed chan<- struct{}) (<-chan struct{}, error) {
	secrets := m.clients.Secrets.Secrets(m.opts.Namespace)
	byName := fields.OneTermEqualSelector("metadata.name", m.opts.SecretName).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = byName
			return secrets.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = byName
			return secrets.Watch(ctx, o)
		},
	}
	// As the generated informers do: a fake client that cannot stream lists is listed instead.
	inf := cache.NewSharedInformer(cache.ToListWatcherWithWatchListSemantics(lw, m.clients.Secrets), &corev1.Secret{}, 0)
	notify := func() {
		select {
		case changed <- struct{}{}:
		default: // a signal is already pending; one reconcile covers both
		}
	}
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { notify() },
		UpdateFunc: func(_, _ any) { notify() },
		DeleteFunc: func(any) { notify() },
	})
	if err != nil {
		return nil, fmt.Errorf("watching TLS Secret: %w", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		inf.RunWithContext(ctx)
	}()
	return done, nil
}
