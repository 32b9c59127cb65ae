package annotations

import (
	"fmt"

	"github.com/vault-injector/vault-injector/contract"
)

// Reload options: how the agent notifies the app of a new generation of files.
type Reload struct {
	HTTP    string // reload-http
	Signal  string // reload-signal
	Process string // reload-process
}

func validateReloadHTTP(o *Options, v string) error {
	if err := contract.ValidateReloadURL(v); err != nil {
		return err
	}
	o.Reload.HTTP = v
	return nil
}

func validateReloadSignal(o *Options, v string) error {
	if err := contract.ValidateReloadSignal(v); err != nil {
		return fmt.Errorf("%w (a signal that stops the app is not a reload)", err)
	}
	o.Reload.Signal = v
	return nil
}

func validateReloadProcess(o *Options, v string) error {
	if err := contract.ValidateProcessName(v); err != nil {
		return err
	}
	o.Reload.Process = v
	return nil
}

// checkReload refuses reload annotations that only make sense together, or not at all.
func (p *parser) checkReload() {
	r := p.opts.Reload
	if r.Signal != "" && r.Process == "" {
		p.problem(contract.AnnotationReloadSignal, r.Signal, fmt.Sprintf("needs %s with the executable name of the process to signal, such as nginx", contract.AnnotationReloadProcess))
	}
	if r.Process != "" && r.Signal == "" {
		p.problem(contract.AnnotationReloadProcess, r.Process, fmt.Sprintf("needs %s, the signal to send (SIGHUP, SIGUSR1 or SIGUSR2)", contract.AnnotationReloadSignal))
	}
	if r.HTTP != "" && r.Signal != "" {
		p.problem(contract.AnnotationReloadHTTP, r.HTTP, fmt.Sprintf("and %s are exclusive: choose one way to notify the app", contract.AnnotationReloadSignal))
	}
}
