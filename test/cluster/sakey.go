package cluster

// ServiceAccountPublicKeyFile is the PEM public key that verifies the cluster's service-account
// tokens (the API server's --service-account-key-file): what Vault's jwt auth method takes as
// jwt_validation_pubkeys instead of asking the TokenReview API.
func (s *State) ServiceAccountPublicKeyFile() string { return s.path("pki", "sa.pub") }
