// Command devcerts writes a throwaway CA and serving certificate for running the webhook
// outside a cluster (make demo, local debugging):
//
//	go run ./certs/cmd/devcerts -dir /tmp/vi-certs -host 127.0.0.1 -host localhost
//
// It prints the CA as base64, ready for a webhook configuration's caBundle.
package main

import (
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/vault-injector/vault-injector/certs"
)

// hostList collects repeated -host flags (comma lists work too).
type hostList []string

func (h *hostList) String() string { return strings.Join(*h, ",") }

func (h *hostList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*h = append(*h, s)
		}
	}
	return nil
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "devcerts:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("devcerts", flag.ContinueOnError)
	dir := fs.String("dir", "", "directory for ca.crt, tls.crt and tls.key (required)")
	var hosts hostList
	fs.Var(&hosts, "host", "DNS name or IP address for the certificate (repeatable; default 127.0.0.1)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return fmt.Errorf("-dir is required")
	}
	if len(hosts) == 0 {
		hosts = hostList{"127.0.0.1"}
	}
	dc, err := certs.WriteDevCerts(*dir, hosts...)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s, %s and %s for %s\n", dc.CAFile, dc.CertFile, dc.KeyFile, hosts.String())
	fmt.Println(base64.StdEncoding.EncodeToString(dc.CAPEM))
	return nil
}
