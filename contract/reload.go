package contract

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
)

// Reload annotations: how the agent tells the app that a new generation of its files is
// published. At most one of reload-http and reload-signal; reload-process goes with
// reload-signal.
const (
	AnnotationReloadHTTP    = Prefix + "reload-http"
	AnnotationReloadSignal  = Prefix + "reload-signal"
	AnnotationReloadProcess = Prefix + "reload-process"
)

// ReloadSignals are the signals reload-signal accepts: the ones daemons use for "re-read your
// configuration" (nginx, HAProxy, Prometheus: SIGHUP; Apache: SIGUSR1). Signals that stop a
// process (SIGTERM, SIGINT, SIGQUIT, SIGKILL) are refused: a restart is not a reload.
var ReloadSignals = []string{"SIGHUP", "SIGUSR1", "SIGUSR2"}

// Reload says how the agent notifies the app after publishing a new generation of files. The
// version file is always written; HTTP and Signal are exclusive.
type Reload struct {
	// HTTP is a URL on the pod's loopback POSTed after each new generation.
	HTTP string `json:"http,omitempty"`
	// Signal (one of ReloadSignals) is sent to every process named Process (its executable
	// name, as in /proc/<pid>/comm or argv[0]) that the shared process namespace shows.
	Signal  string `json:"signal,omitempty"`
	Process string `json:"process,omitempty"`
}

// Validate reports every problem of a Reload.
func (r *Reload) Validate() error {
	var errs []error
	if r.HTTP != "" {
		if err := ValidateReloadURL(r.HTTP); err != nil {
			errs = append(errs, fmt.Errorf("reload.http: %w", err))
		}
		if r.Signal != "" {
			errs = append(errs, errors.New("reload.http and reload.signal are exclusive: choose one"))
		}
	}
	if (r.Signal == "") != (r.Process == "") {
		errs = append(errs, errors.New("reload.signal and reload.process go together"))
	}
	if r.Signal != "" {
		if err := ValidateReloadSignal(r.Signal); err != nil {
			errs = append(errs, fmt.Errorf("reload.signal: %w", err))
		}
	}
	if r.Process != "" {
		if err := ValidateProcessName(r.Process); err != nil {
			errs = append(errs, fmt.Errorf("reload.process: %w", err))
		}
	}
	return errors.Join(errs...)
}

// ValidateReloadURL accepts http URLs on the pod's loopback: http://127.0.0.1:8080/-/reload,
// http://localhost:9090/reload, http://[::1]:8080/x. Containers of a pod share the loopback,
// so nothing else is needed; any other host would let an annotation make the agent POST into
// the cluster network.
func ValidateReloadURL(v string) error {
	u, err := url.Parse(v)
	if err != nil {
		return fmt.Errorf("is not a URL (%v): use http://127.0.0.1:PORT/PATH", errors.Unwrap(err))
	}
	if u.Scheme != "http" {
		return fmt.Errorf("scheme %q is not allowed: use http://127.0.0.1:PORT/PATH (plain http on the pod's loopback)", u.Scheme)
	}
	if u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return errors.New("must not carry user info, a fragment or an opaque part: use http://127.0.0.1:PORT/PATH")
	}
	switch host := u.Hostname(); {
	case host == "localhost":
	case net.ParseIP(host) != nil && net.ParseIP(host).IsLoopback():
	default:
		return fmt.Errorf("host %q is not the pod's loopback: use 127.0.0.1, [::1] or localhost", host)
	}
	if p := u.Port(); p != "" && !portRE.MatchString(p) {
		return fmt.Errorf("port %q is invalid: use 1-65535", p)
	}
	return nil
}

var portRE = regexp.MustCompile(`^([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$`)

// ValidateReloadSignal accepts the names in ReloadSignals, upper case with the SIG prefix.
func ValidateReloadSignal(v string) error {
	for _, s := range ReloadSignals {
		if v == s {
			return nil
		}
	}
	return fmt.Errorf("signal %q is not a reload signal: use one of %s", v, strings.Join(ReloadSignals, ", "))
}

var processRE = regexp.MustCompile(`^[A-Za-z0-9_.+-][A-Za-z0-9_.+:@-]{0,254}$`)

// ValidateProcessName accepts an executable's file name such as nginx or my-app: no path, no
// white space.
func ValidateProcessName(v string) error {
	if !processRE.MatchString(v) {
		return fmt.Errorf("process name %q is invalid: use the executable's file name, such as nginx (no '/', no spaces, at most 255 characters)", v)
	}
	return nil
}

func (c *Config) validateReload() error {
	if c.Reload == nil {
		return nil
	}
	return c.Reload.Validate()
}
