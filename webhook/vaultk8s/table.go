package vaultk8s

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/vault-injector/vault-injector/contract"
)

// tlsMount is where vault-k8s mounts tls-secret in its agent; ca-cert, client-cert and
// client-key name files there.
const tlsMount = "/vault/tls/"

type podKey func(t *translator, key, value string)

// to carries a value unchanged into one of our keys; the parser then validates it.
func to(ours string) podKey {
	return func(t *translator, k, v string) { t.set(k, ours, v) }
}

// drop warns that a key has no effect here, saying why.
func drop(why string) podKey {
	return func(t *translator, k, _ string) { t.warn(k, "%s", why) }
}

// refuse refuses a key whatever its value.
func refuseAlways(why string) podKey {
	return func(t *translator, k, _ string) { t.refuse(k, "%s", why) }
}

// boolKey handles a vault-k8s boolean: onTrue and onFalse run for the parsed value.
func boolKey(onTrue, onFalse podKey) podKey {
	return func(t *translator, k, v string) {
		b, err := strconv.ParseBool(v)
		switch {
		case err != nil:
			t.refuse(k, "must be true or false, as vault-k8s requires")
		case b:
			onTrue(t, k, v)
		default:
			onFalse(t, k, v)
		}
	}
}

func same(t *translator, k, _ string) { t.verdict(k, Translated) } // already our behaviour

// podKeys are the pod-wide vault-k8s annotations (without the prefix).
var podKeys = map[string]podKey{
	"agent-inject": boolKey(
		func(t *translator, k, _ string) {
			t.set(k, contract.AnnotationInject, contract.InjectTrue)
			// vault-k8s mounts the secrets volume read-write into the app containers.
			t.set(k, contract.AnnotationVolumeReadWrite, "true")
		},
		func(t *translator, k, _ string) { t.set(k, contract.AnnotationInject, "false") }),
	"agent-inject-status": func(t *translator, k, v string) {
		if v == "injected" {
			t.verdict(k, Translated) // vault-k8s injected the pod: it is left alone
			return
		}
		t.warn(k, "vault-injector injects a pod once, at creation; a changed pod template makes new pods that are injected anew")
	},
	"role":      to(contract.AnnotationRole),
	"auth-path": to(contract.AnnotationAuthPath),
	"agent-inject-containers": func(t *translator, k, v string) {
		// vault-k8s mounts the secrets into the named containers and, when its init agent runs
		// (agent-pre-populate, on by default), into every init container.
		t.set(k, contract.AnnotationContainers, v)
		if pre, err := strconv.ParseBool(t.in[Prefix+"agent-pre-populate"]); err != nil || pre {
			t.set(k, contract.AnnotationContainersIncludeInit, "true")
		}
	},
	"secret-volume-path":                     to(contract.AnnotationVolumePath),
	"agent-requests-cpu":                     to(contract.AnnotationAgentCPURequest),
	"agent-requests-mem":                     to(contract.AnnotationAgentMemoryRequest),
	"agent-limits-cpu":                       to(contract.AnnotationAgentCPULimit),
	"agent-limits-mem":                       to(contract.AnnotationAgentMemoryLimit),
	"template-static-secret-render-interval": to(contract.AnnotationRefresh),
	"namespace":                              to(contract.AnnotationNamespace),
	"tls-secret":                             to(contract.AnnotationTLSSecret),
	"tls-server-name":                        to(contract.AnnotationTLSServerName),
	"service":                                to(contract.AnnotationVaultAddress),
	"proxy-address":                          to(contract.AnnotationProxyAddress),
	"auth-type": func(t *translator, k, v string) {
		if v != "kubernetes" && v != "jwt" {
			t.refuse(k, "vault-injector logs in with kubernetes or jwt auth only: use one of them")
			return
		}
		t.set(k, contract.AnnotationAuthType, v)
	},
	"ca-cert":         tlsFile(contract.AnnotationTLSCAFile, "ca.crt"),
	"client-cert":     tlsFile(contract.AnnotationTLSClientCertFile, "tls.crt"),
	"client-key":      tlsFile(contract.AnnotationTLSClientKeyFile, "tls.key"),
	"ca-key":          caPath,
	"tls-skip-verify": boolKey(to(contract.AnnotationTLSSkipVerify), same), // refused unless --allow-vault-tls-skip-verify
	"agent-pre-populate-only": boolKey(
		func(t *translator, k, _ string) { t.set(k, contract.AnnotationMode, contract.ModeInitOnly) },
		same),
	"agent-pre-populate": boolKey(same, func(t *translator, k, _ string) {
		t.verdict(k, Translated)
		t.res.Warnings = append(t.res.Warnings, k+`="false": the agent runs as a native sidecar that renders the files before the app starts; there is no mode in which the app starts first`)
	}),
	"agent-inject-default-template": func(t *translator, k, v string) {
		if dt := strings.ToLower(v); dt != "map" && dt != "json" {
			t.refuse(k, `must be "map" or "json", as vault-k8s requires`)
			return
		}
		t.verdict(k, Translated) // applied to each secret without a template
	},
	"preserve-secret-case": boolKey(same, same), // applied to each secret's name
	"agent-inject-token": boolKey(
		func(t *translator, k, _ string) { t.set(k, contract.AnnotationInjectToken, "true") },
		same),
	"agent-revoke-on-shutdown": boolKey(same, drop("the agent always revokes its token when it stops")),
	"agent-init-first":         boolKey(same, drop("the agent always runs first, so the pod's own init containers can read the secrets")),
	"agent-cache-enable": boolKey(
		refuseAlways("the agent has no caching proxy: an app that calls Vault through the agent needs its own Vault client (or vault-injector.io/proxy-address for a Vault proxy)"),
		drop("the agent has no cache to turn off")),

	"agent-configmap":          refuseAlways("a ConfigMap with a whole Vault Agent configuration cannot be translated: move its templates into agent-inject-template-<name> annotations"),
	"agent-extra-secret":       refuseAlways("the agent mounts no extra Secret: Vault's CA and client certificate come from tls-secret; templates come from annotations"),
	"agent-json-patch":         to(contract.AnnotationAgentJSONPatch),        // checked when applied
	"agent-init-json-patch":    to(contract.AnnotationAgentInitJSONPatch),    // checked when applied
	"agent-copy-volume-mounts": to(contract.AnnotationAgentCopyVolumeMounts), // copied read-only

	"agent-image":                             drop("the agent image is the webhook's --agent-image"),
	"agent-request-namespace":                 drop("it is written by vault-k8s, not read"),
	"agent-run-as-user":                       drop("the agent runs as the webhook's --agent-uid; files get agent-inject-perms-<name> (0644 unless set), readable by any UID"),
	"agent-run-as-group":                      drop("the agent runs as the webhook's --agent-gid; files get agent-inject-perms-<name> (0644 unless set), readable by any UID"),
	"agent-run-as-same-user":                  drop("the agent runs as the webhook's --agent-uid; files get agent-inject-perms-<name> (0644 unless set), readable by any UID"),
	"agent-share-process-namespace":           drop("set shareProcessNamespace in the pod spec (vault-injector.io/reload-signal needs it)"),
	"agent-set-security-context":              drop("injected containers always get the restricted Pod Security Standard's security context"),
	"agent-service-account-token-volume-name": drop("the agent always gets its own projected token (audience: the webhook's --token-audience)"),
	"agent-limits-ephemeral":                  drop("the agent writes only to its in-memory volume, so it sets no ephemeral-storage resources"),
	"agent-requests-ephemeral":                drop("the agent writes only to its in-memory volume, so it sets no ephemeral-storage resources"),
	"agent-revoke-grace":                      drop("the agent revokes its token as soon as it stops"),
	"agent-cache-use-auto-auth-token":         drop("the agent has no cache"),
	"agent-cache-listener-port":               drop("the agent has no cache"),
	"agent-cache-exit-on-err":                 drop("the agent has no cache"),
	"agent-enable-quit":                       drop("a Job's native sidecar stops by itself when the Job's containers end; init-only needs none"),
	"agent-auto-auth-exit-on-err":             drop("an init agent exits after its 2-minute retry window with one line naming the error; a sidecar keeps retrying with backoff"),
	"template-config-exit-on-retry-failure":   drop("an init agent exits after its 2-minute retry window; a sidecar keeps the last good files and retries"),
	"template-max-connections-per-host":       drop("the agent keeps one connection pool to Vault"),
	"template-lease-renewal-threshold":        drop("the agent renews leases at its own threshold"),
	"auth-min-backoff":                        drop("the agent's backoff is fixed (500ms to 30s with jitter)"),
	"auth-max-backoff":                        drop("the agent's backoff is fixed (500ms to 30s with jitter)"),
	"agent-disable-idle-connections":          drop("the agent keeps one connection pool to Vault"),
	"agent-disable-keep-alives":               drop("the agent keeps one connection pool to Vault"),
	"client-max-retries":                      drop("the agent retries with its own backoff"),
	"client-timeout":                          drop("the agent sets its own request timeouts"),
	"go-max-procs":                            drop("the agent is single-threaded in effect and needs no tuning"),
	"log-level":                               drop("the agent logs JSON at info level"),
	"log-format":                              drop("the agent logs JSON at info level"),
}

// tlsFile accepts ca-cert, client-cert and client-key naming a file of the tls-secret mount,
// /vault/tls/<key>, and carries the key into ours.
func tlsFile(ours, def string) podKey {
	return func(t *translator, k, v string) {
		if key, ok := t.tlsKey(k, v, def); ok {
			t.set(k, ours, key)
		}
	}
}

var secretKeyRE = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)

// tlsKey is the Secret key of a file under the tls-secret mount, or a refusal naming the fix.
func (t *translator) tlsKey(k, v, def string) (string, bool) {
	key, ok := strings.CutPrefix(v, tlsMount)
	if ok && t.in[Prefix+"tls-secret"] != "" {
		if secretKeyRE.MatchString(key) && key != "." && key != ".." && len(key) <= 253 {
			return key, true // the parser checks it again as a Secret key
		}
	}
	t.refuse(k, "vault-injector reads Vault's TLS files from the Secret named by tls-secret, mounted at %s: set tls-secret and name a key of that Secret, such as %s%s", tlsMount, tlsMount, def)
	return "", false
}

// caPath is ca-key, Vault's CA path (VAULT_CAPATH): a file of CA certificates under the
// tls-secret mount is the CA file; ca-cert wins over it, as in Vault's client.
func caPath(t *translator, k, v string) {
	if strings.TrimSuffix(v, "/")+"/" == tlsMount {
		t.refuse(k, "a directory of CA certificates is not supported: put the CA certificates in one file of the tls-secret Secret and name it with ca-cert (%sca.crt)", tlsMount)
		return
	}
	key, ok := t.tlsKey(k, v, "ca.crt")
	switch {
	case !ok:
	case t.in[Prefix+"ca-cert"] != "":
		t.warn(k, "ca-cert is set, and Vault's client reads only ca-cert then")
	default:
		t.set(k, contract.AnnotationTLSCAFile, key)
	}
}
