// Package certs manages the webhook's TLS without an operator: a CA and a short-lived serving
// certificate kept in one Secret, written to the webhook's cert dir for hot reload, and the CA
// bundle patched into the MutatingWebhookConfiguration. Every replica runs a Manager; there is
// no leader election because all writes use optimistic concurrency (resourceVersion) and every
// replica serves whatever the Secret holds. It also makes throwaway certificates for local runs
// (WriteDevCerts).
package certs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1client "k8s.io/client-go/kubernetes/typed/admissionregistration/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
)

// Defaults of Options. The CA outlives many leaves so caBundle changes are rare; the leaf is
// short so a leaked key is worth little.
const (
	DefaultCAValidity       = 2 * 365 * 24 * time.Hour
	DefaultLeafValidity     = 7 * 24 * time.Hour
	DefaultPropagationDelay = 5 * time.Minute
	DefaultResyncInterval   = time.Minute
)

// Options configures a Manager. Namespace, SecretName and CertDir are required.
type Options struct {
	// Namespace holds the Secret and the Service (usually the pod's own, via POD_NAMESPACE).
	Namespace string
	// SecretName is the Secret holding the CA and serving certificate.
	SecretName string
	// ServiceName, when set, adds the Service's DNS names to the certificate:
	// svc, svc.ns, svc.ns.svc and svc.ns.svc.cluster.local.
	ServiceName string
	// Hosts are extra DNS names or IP addresses for the certificate.
	Hosts []string
	// WebhookConfigName is the MutatingWebhookConfiguration whose caBundle is kept in sync;
	// empty leaves webhook configurations alone.
	WebhookConfigName string
	// CertDir receives tls.crt, tls.key and ca.crt (the bundle), swapped atomically.
	CertDir string
	// CAValidity and LeafValidity are certificate lifetimes; each is renewed at 2/3 of it.
	CAValidity   time.Duration
	LeafValidity time.Duration
	// PropagationDelay is how long a new CA sits in the caBundle (counted from when this
	// replica saw the bundle in place) before it signs anything, so the API server trusts it
	// before any replica serves a certificate from it.
	PropagationDelay time.Duration
	// ResyncInterval bounds the time between checks of the Secret and the caBundle (both are
	// also re-checked at once when the Secret changes).
	ResyncInterval time.Duration
	// Log receives progress and errors; it never receives key material.
	Log logr.Logger
	// Now is the clock; tests may replace it.
	Now func() time.Time
}

// Clients are the two API clients a Manager uses. It takes these rather than a whole
// kubernetes.Interface so that the webhook binary does not link the clientset, whose typed
// clients for every API group cost megabytes of resident memory.
type Clients struct {
	// Secrets gets, creates, updates, lists and watches the TLS Secret.
	Secrets corev1client.SecretsGetter
	// WebhookConfigs gets and updates the MutatingWebhookConfiguration; unused when
	// Options.WebhookConfigName is empty.
	WebhookConfigs admissionregistrationv1client.MutatingWebhookConfigurationsGetter
}

// ClientsForConfig makes Clients from a REST config, sharing one HTTP client (one connection
// pool) as a clientset would.
func ClientsForConfig(cfg *rest.Config) (Clients, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return Clients{}, err
	}
	core, err := corev1client.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return Clients{}, err
	}
	admission, err := admissionregistrationv1client.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return Clients{}, err
	}
	return Clients{Secrets: core, WebhookConfigs: admission}, nil
}

// Manager keeps the webhook's certificates. Create it with NewManager and call Run.
type Manager struct {
	clients Clients
	opts    Options
	pol     policy
	log     logr.Logger
	ready   chan struct{}
	// warnedNoConfig avoids repeating the "webhook configuration not found" line every resync.
	warnedNoConfig bool
	// next is when the CA being rolled in was seen in the caBundle (only Run's goroutine uses it).
	next publishedCA
}

// NewManager validates opts, fills defaults and returns a Manager using clients.
func NewManager(clients Clients, opts Options) (*Manager, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	return &Manager{
		clients: clients,
		opts:    opts,
		pol: policy{
			Hosts:            opts.hosts(),
			CAValidity:       opts.CAValidity,
			LeafValidity:     opts.LeafValidity,
			PropagationDelay: opts.PropagationDelay,
		},
		log:   opts.Log.WithValues("secret", opts.Namespace+"/"+opts.SecretName),
		ready: make(chan struct{}),
	}, nil
}

func (o *Options) setDefaults() {
	if o.CAValidity == 0 {
		o.CAValidity = DefaultCAValidity
	}
	if o.LeafValidity == 0 {
		o.LeafValidity = DefaultLeafValidity
	}
	if o.PropagationDelay == 0 {
		o.PropagationDelay = DefaultPropagationDelay
	}
	if o.ResyncInterval == 0 {
		o.ResyncInterval = DefaultResyncInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

func (o *Options) validate() error {
	var errs []error
	if o.Namespace == "" || o.SecretName == "" || o.CertDir == "" {
		errs = append(errs, errors.New("certs: Namespace, SecretName and CertDir are required"))
	}
	if len(o.hosts()) == 0 {
		errs = append(errs, fmt.Errorf("certs: %w", errNoHosts))
	}
	if o.LeafValidity >= o.CAValidity {
		errs = append(errs, fmt.Errorf("certs: LeafValidity %s must be shorter than CAValidity %s", o.LeafValidity, o.CAValidity))
	}
	// The rollover must finish within the CA's last third: next CA at 2/3, promotion after
	// the delay, and the old CA still valid for the leaves it signed.
	if o.PropagationDelay >= o.CAValidity/3 {
		errs = append(errs, fmt.Errorf("certs: PropagationDelay %s must be shorter than a third of CAValidity %s", o.PropagationDelay, o.CAValidity))
	}
	if o.LeafValidity <= 0 || o.PropagationDelay < 0 || o.ResyncInterval <= 0 {
		errs = append(errs, errors.New("certs: validities and ResyncInterval must be positive"))
	}
	return errors.Join(errs...)
}

// hosts are the certificate's SANs: the Service's DNS names, then the extra hosts.
func (o *Options) hosts() []string {
	var h []string
	if o.ServiceName != "" && o.Namespace != "" {
		s, ns := o.ServiceName, o.Namespace
		h = append(h, s, s+"."+ns, s+"."+ns+".svc", s+"."+ns+".svc.cluster.local")
	}
	return append(h, o.Hosts...)
}

// CertFile and KeyFile are the paths controller-runtime's webhook server (CertDir with its
// default CertName/KeyName) and its cert watcher read.
func (m *Manager) CertFile() string { return filepath.Join(m.opts.CertDir, KeyCert) }
func (m *Manager) KeyFile() string  { return filepath.Join(m.opts.CertDir, KeyKey) }

// CABundleFile is the PEM bundle a client of the webhook should trust (the caBundle).
func (m *Manager) CABundleFile() string { return filepath.Join(m.opts.CertDir, KeyCABundle) }

// Ready is closed once a serving certificate is on disk. Start the TLS server after it: the
// cert watcher fails when the files are missing.
func (m *Manager) Ready() <-chan struct{} { return m.ready }

// WaitReady blocks until Ready or ctx ends.
func (m *Manager) WaitReady(ctx context.Context) error {
	select {
	case <-m.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the serving certificate: %w", ctx.Err())
	}
}

// ReadyzCheck fits controller-runtime's healthz.Checker: not ready until the first
// certificate is on disk.
func (m *Manager) ReadyzCheck(_ *http.Request) error {
	select {
	case <-m.ready:
		return nil
	default:
		return errors.New("serving certificate not written yet")
	}
}

// Start is Run under the name controller-runtime's manager.Runnable expects.
func (m *Manager) Start(ctx context.Context) error { return m.Run(ctx) }

// NeedLeaderElection is false: every replica must keep its own cert dir current.
func (m *Manager) NeedLeaderElection() bool { return false }

// Run keeps the Secret, the cert dir and the caBundle current until ctx ends. API errors are
// logged and retried with backoff (readiness tells whether a certificate exists); it returns
// nil when ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	changed := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(ctx)
	watchDone, err := m.watchSecret(ctx, changed)
	if err != nil {
		cancel()
		return err
	}
	// Cancel first so the informer stops, then wait for its goroutine.
	defer func() {
		cancel()
		<-watchDone
	}()
	failures := 0
	for {
		wake, err := m.reconcile(ctx)
		delay := m.opts.ResyncInterval
		if err != nil {
			failures++
			delay = min(time.Second<<min(failures-1, 6), delay)
			m.log.Error(err, "TLS reconcile failed, retrying", "in", delay.String())
		} else {
			failures = 0
			if d := wake.Sub(m.opts.Now()); d < delay {
				delay = max(d, 0)
			}
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-changed:
			t.Stop()
		case <-t.C:
		}
	}
}
