package mutate

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/webhook/annotations"
)

// injectValueWarning explains an inject annotation that does not opt the pod in although it
// looks like it means to (the webhook's matchConditions compare with "true" exactly).
func injectValueWarning(a map[string]string) []string {
	v, ok := a[contract.AnnotationInject]
	if !ok || v == contract.InjectTrue || v == "false" {
		return nil
	}
	return []string{fmt.Sprintf("%s=%q does not opt the pod in and the webhook ignores it: use %q (lower case) to inject the vault agent",
		contract.AnnotationInject, annotations.Shorten(v), contract.InjectTrue)}
}

// crossChecks are the annotation checks that need the cluster defaults or the whole set of
// annotations, all reported together as an *annotations.Error.
func crossChecks(opts annotations.Options, d Defaults) error {
	var problems []string
	if p := nothingToInject(opts); p != "" {
		problems = append(problems, p)
	}
	if p := roleProblem(opts, d); p != "" {
		problems = append(problems, p)
	}
	problems = append(problems, resourceProblems(opts, d)...)
	problems = append(problems, vaultProblems(opts, d)...)
	if len(problems) == 0 {
		return nil
	}
	return &annotations.Error{Problems: problems}
}

// nothingToInject refuses an opted-in pod without a single secret: an agent with nothing to
// fetch is almost always a typo in the secret-<name> keys. The token file alone
// (inject-token) is something to inject: an app that calls Vault itself needs nothing else.
func nothingToInject(opts annotations.Options) string {
	if len(opts.Secrets) > 0 || opts.InjectToken {
		return ""
	}
	msg := fmt.Sprintf("%s=%q: no secret to inject: add %s<name> with a Vault path, such as %sdb: secret/data/app/db",
		contract.AnnotationInject, contract.InjectTrue, contract.AnnotationSecretPrefix, contract.AnnotationSecretPrefix)
	var hints []string
	for _, k := range opts.Unknown {
		if s := annotations.Suggestion(k); s != "" {
			hints = append(hints, fmt.Sprintf("%s (did you mean %s?)", annotations.Shorten(k), s))
		}
	}
	if len(hints) > 0 {
		msg += "; ignored as unknown: " + strings.Join(hints, ", ")
	}
	return msg
}

// roleProblem refuses a pod without a role annotation when the webhook has no default role:
// the agent cannot log in to Vault without one.
func roleProblem(opts annotations.Options, d Defaults) string {
	if opts.Role != "" || d.Role != "" {
		return ""
	}
	return fmt.Sprintf("no Vault role: set %s (this webhook has no --default-role)", contract.AnnotationRole)
}

// resourceProblems refuses an agent request above its limit when one side comes from an
// annotation and the other from the webhook's flags (annotations.Parse checks two annotations,
// Defaults.Validate two flags): the API server would refuse the injected pod with a message
// that names neither.
func resourceProblems(opts annotations.Options, d Defaults) []string {
	var problems []string
	for _, r := range []struct {
		what                 string
		req, lim             *resource.Quantity
		flagReq, flagLim     resource.Quantity
		reqKey, limKey       string
		reqFlag, limFlagName string
	}{
		{"CPU", opts.CPURequest, opts.CPULimit, d.CPURequest, d.CPULimit,
			contract.AnnotationAgentCPURequest, contract.AnnotationAgentCPULimit, "--agent-cpu-request", "--agent-cpu-limit"},
		{"memory", opts.MemoryRequest, opts.MemoryLimit, d.MemoryRequest, d.MemoryLimit,
			contract.AnnotationAgentMemoryRequest, contract.AnnotationAgentMemoryLimit, "--agent-memory-request", "--agent-memory-limit"},
	} {
		if (r.req == nil) == (r.lim == nil) {
			continue // both annotated, or both flags: checked elsewhere
		}
		req, reqFrom := r.flagReq, "the webhook's "+r.reqFlag
		if r.req != nil {
			req, reqFrom = *r.req, r.reqKey
		}
		lim, limFrom := r.flagLim, "the webhook's "+r.limFlagName
		if r.lim != nil {
			lim, limFrom = *r.lim, r.limKey
		}
		if lim.IsZero() || req.IsZero() || req.Cmp(lim) <= 0 {
			continue
		}
		fix := fmt.Sprintf("set %s to at most %s, or %s to at least %s", r.reqKey, lim.String(), r.limKey, req.String())
		problems = append(problems, fmt.Sprintf("agent %s request %s (%s) is above its limit %s (%s): the API server refuses a request above the limit; %s",
			r.what, req.String(), reqFrom, lim.String(), limFrom, fix))
	}
	return problems
}

// vaultProblems are the connection checks that need the defaults: a plain-HTTP address sends
// the agent's token and the secrets in clear, so only a webhook that allows it accepts one.
func vaultProblems(opts annotations.Options, d Defaults) []string {
	var problems []string
	if annotations.IsHTTP(opts.Vault.Address) && !d.AllowHTTPVault {
		problems = append(problems, fmt.Sprintf("%s=%q: this webhook refuses plain-HTTP Vault addresses, which would send the agent's token and the secrets unencrypted: use https:// (or start the webhook with --allow-http-vault)",
			contract.AnnotationVaultAddress, opts.Vault.Address))
	}
	// Without verification anyone on the path can pose as Vault and take the agent's token.
	if opts.Vault.TLSSkipVerify && !d.AllowTLSSkipVerify {
		problems = append(problems, fmt.Sprintf(`%s="true": this webhook refuses agents that do not verify Vault's certificate, which would hand the agent's token to anyone posing as Vault: give the agent Vault's CA with %s (or the webhook's --vault-ca-bundle), or start the webhook with --allow-vault-tls-skip-verify`,
			contract.AnnotationTLSSkipVerify, contract.AnnotationTLSSecret))
	}
	return problems
}
