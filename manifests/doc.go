// Package manifests holds the install manifests (kustomize base and overlays under base/ and
// overlays/, the Helm chart under helm/vault-injector) and, in its tests, the checks that they
// are consistent with each other, with the webhook's flags and the Dockerfiles, and that a real
// API server accepts them and routes only opted-in pods to the webhook. See docs/install.md.
package manifests
