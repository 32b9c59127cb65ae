package render

import (
	"github.com/vault-injector/vault-injector/agent/vault"
)

// ctSecret is a whole secret as Vault Agent's templates see it (consul-template's
// dependency.Secret), so `{{ with secret "p" }}{{ . | toJSON }}{{ end }}` prints the same
// fields in the same order. Auth and WrapInfo are always null: a read carries neither, and the
// agent keeps no token a write may return (paths under auth/token/ are refused anyway).
type ctSecret struct {
	RequestID     string
	LeaseID       string
	LeaseDuration int
	Renewable     bool
	Data          map[string]any
	Warnings      []string
	Auth          *struct{}
	WrapInfo      *struct{}
}

// asVaultAgentSecret turns a whole secret (the value of `secret`, or the template's dot) into
// ctSecret; any other value comes back unchanged. The dot is fetched here, so its error is
// the template's.
func asVaultAgentSecret(v any) (any, error) {
	var s *vault.Secret
	switch x := v.(type) {
	case *vault.Secret:
		s = x
	case *lazySecret:
		var err error
		if s, err = x.get(); err != nil {
			return nil, err
		}
	default:
		return v, nil
	}
	if s == nil {
		return nil, nil
	}
	return ctSecret{RequestID: s.RequestID, LeaseID: s.LeaseID, LeaseDuration: s.LeaseDuration,
		Renewable: s.Renewable, Data: s.Data, Warnings: s.Warnings}, nil
}
