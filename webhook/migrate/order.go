package migrate

import (
	"sort"
	"strings"

	"github.com/vault-injector/vault-injector/contract"
)

// podOrder is the order pod-wide keys are written in; others follow alphabetically.
var podOrder = []string{
	contract.AnnotationInject, contract.AnnotationRole, contract.AnnotationAuthPath,
	contract.AnnotationMode,
}

var secretPrefixes = []string{
	contract.AnnotationSecretPrefix, contract.AnnotationTemplatePrefix, contract.AnnotationFilePrefix,
	contract.AnnotationPermsPrefix, contract.AnnotationFormatPrefix, contract.AnnotationCompatPrefix,
}

func isPerSecret(k string) bool {
	_, _, ok := splitSecret(k)
	return ok
}

// splitSecret returns the secret's name and the rank of its prefix.
func splitSecret(k string) (string, int, bool) {
	for i, p := range secretPrefixes {
		if n, ok := strings.CutPrefix(k, p); ok && n != "" {
			return n, i, true
		}
	}
	return "", 0, false
}

func sortPod(keys []string) {
	rank := func(k string) int {
		for i, o := range podOrder {
			if o == k {
				return i
			}
		}
		return len(podOrder)
	}
	sort.Slice(keys, func(i, j int) bool {
		if ri, rj := rank(keys[i]), rank(keys[j]); ri != rj {
			return ri < rj
		}
		return keys[i] < keys[j]
	})
}

// sortSecrets groups each secret's keys: secret-<n>, template-<n>, file-<n>, perms-<n>.
func sortSecrets(keys []string) {
	sort.Slice(keys, func(i, j int) bool {
		ni, ri, _ := splitSecret(keys[i])
		nj, rj, _ := splitSecret(keys[j])
		if ni != nj {
			return ni < nj
		}
		return ri < rj
	})
}
