package certs

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vault-injector/vault-injector/internal/atomicdir"
)

// Files written by WriteDevCerts.
const (
	DevCAFile   = "ca.crt"
	DevCertFile = KeyCert
	DevKeyFile  = KeyKey
)

// DevCertValidity is long enough for a demo or a test run, short enough to be obviously
// throwaway.
const DevCertValidity = 30 * 24 * time.Hour

// DevCerts says where WriteDevCerts put its files and holds the CA for clients.
type DevCerts struct {
	Dir      string
	CAFile   string
	CertFile string
	KeyFile  string
	// CAPEM is the CA certificate: the caBundle of a webhook configuration or a client's root.
	CAPEM []byte
}

// WriteDevCerts makes a throwaway CA and a serving certificate for hosts (DNS names or IP
// addresses such as 127.0.0.1) and writes ca.crt, tls.crt and tls.key into dir. It is for local
// runs, tests and `make demo` (a webhook outside the cluster behind a URL clientConfig);
// clusters use the Manager or cert-manager.
func WriteDevCerts(dir string, hosts ...string) (*DevCerts, error) {
	if len(hosts) == 0 {
		return nil, fmt.Errorf("certs: WriteDevCerts: %w", errNoHosts)
	}
	now := time.Now()
	ca, err := newCA(caCommonName+"-dev", now, DevCertValidity)
	if err != nil {
		return nil, err
	}
	leaf, err := newLeaf(ca, hosts, now, DevCertValidity)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	out := &DevCerts{
		Dir:      dir,
		CAFile:   filepath.Join(dir, DevCAFile),
		CertFile: filepath.Join(dir, DevCertFile),
		KeyFile:  filepath.Join(dir, DevKeyFile),
		CAPEM:    ca.CertPEM,
	}
	// The key first and the certificate last: a watcher that sees the new tls.crt also finds
	// its key.
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{out.KeyFile, leaf.KeyPEM, 0o600},
		{out.CAFile, ca.CertPEM, 0o644},
		{out.CertFile, leaf.CertPEM, 0o644},
	} {
		if err := atomicdir.WriteFile(f.path, f.data, f.mode); err != nil {
			return nil, err
		}
	}
	return out, nil
}
