// Package integration tests the agent end to end against a real Vault dev server (and a real
// PostgreSQL for leased database credentials): formats, templates, KV detection, lease
// renewal, atomic publication under readers, outages, the --once failure line, classic-mode
// token handover and revocation on SIGTERM. It has no non-test code besides this comment.
package integration
