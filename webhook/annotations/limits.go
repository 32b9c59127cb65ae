package annotations

import (
	"fmt"
	"sort"
	"strings"

	apivalidation "k8s.io/apimachinery/pkg/api/validation"

	"github.com/vault-injector/vault-injector/contract"
)

// Limits on what one pod may ask of an admission. Each keeps the cost of the worst pod small
// (a template that nests 190000 {{if}} once took the webhook from 92 MB to 516 MB), and none
// refuses a pod that could work: the API server's own limits are tighter or equal.
const (
	// MaxTemplateBytes bounds one template-<name>. The agent-config annotation repeats every
	// template, so two of these already take half of the pod's annotation budget.
	MaxTemplateBytes = 64 << 10
	// MaxTemplateDepth bounds the nesting of blocks plus parentheses in one template.
	MaxTemplateDepth = contract.MaxTemplateDepth
	// MaxSecrets bounds the secret-<name> annotations of one pod (the agent is measured with 100).
	MaxSecrets = 100
	// MaxAnnotationsBytes is the API server's limit on all annotations of an object, counted as
	// the sum of keys' and values' lengths (apimachinery ValidateAnnotationsSize).
	MaxAnnotationsBytes = apivalidation.TotalAnnotationSizeLimitB
)

// AnnotationsSize counts annotations as the API server does.
func AnnotationsSize(annotations map[string]string) int {
	n := 0
	for k, v := range annotations {
		n += len(k) + len(v)
	}
	return n
}

// Largest names the n largest annotations with their sizes, largest first, for messages that
// ask the user to shorten something.
func Largest(annotations map[string]string, n int, keep func(key string) bool) string {
	keys := make([]string, 0, len(annotations))
	for k := range annotations {
		if keep == nil || keep(k) {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		si, sj := len(keys[i])+len(annotations[keys[i]]), len(keys[j])+len(annotations[keys[j]])
		return si > sj || si == sj && keys[i] < keys[j]
	})
	parts := make([]string, 0, n)
	for _, k := range keys[:min(n, len(keys))] {
		parts = append(parts, fmt.Sprintf("%s (%d bytes)", k, len(k)+len(annotations[k])))
	}
	return strings.Join(parts, ", ")
}

// checkAnnotationsSize refuses, before any value is parsed, a pod whose annotations the API
// server would refuse anyway: it bounds the parsing work of one admission.
func checkAnnotationsSize(annotations map[string]string) error {
	if n := AnnotationsSize(annotations); n > MaxAnnotationsBytes {
		return fmt.Errorf("the pod's annotations total %d bytes, over the API server's limit of %d bytes (keys plus values): shorten the largest: %s",
			n, MaxAnnotationsBytes, Largest(annotations, 3, nil))
	}
	return nil
}

// checkTemplateCost refuses templates that would make parsing them expensive, before parsing.
func checkTemplateCost(v, left, right string) error {
	if len(v) > MaxTemplateBytes {
		return fmt.Errorf("template is %d bytes, over the limit of %d bytes: split it into several secrets or render less", len(v), MaxTemplateBytes)
	}
	return contract.CheckTemplateDepth(v, left, right)
}
