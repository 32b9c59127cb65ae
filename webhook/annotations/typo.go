package annotations

import (
	"fmt"
	"strings"

	"github.com/vault-injector/vault-injector/contract"
)

// unknownKeyWarning explains an ignored vault-injector.io key, suggesting the closest known one.
func unknownKeyWarning(key string) string {
	msg := fmt.Sprintf("annotation %s is not a vault-injector annotation and is ignored", Shorten(key))
	if best := closestKey(key); best != "" {
		msg += fmt.Sprintf("; did you mean %s?", best)
	}
	return msg
}

// Suggestion is the known annotation closest to an unknown key, or "".
func Suggestion(key string) string { return closestKey(key) }

// closestKey is the known key within edit distance 3 of key, or "". Keys longer than any valid
// annotation key get no suggestion: the edit distance costs the product of the lengths.
func closestKey(key string) string {
	if len(key) > maxKeyLen {
		return ""
	}
	known := make([]string, 0, len(fields)+len(secretFields)+1)
	for k := range fields {
		known = append(known, k)
	}
	// For prefixed keys compare against prefix+suffix of the unknown key, so "secrt-db" suggests
	// "secret-db".
	suffix := strings.TrimPrefix(key, contract.Prefix)
	if _, after, ok := strings.Cut(suffix, "-"); ok {
		suffix = after
	}
	for p := range secretFields {
		known = append(known, p+suffix)
	}
	known = append(known, contract.AnnotationSecretPrefix+suffix)
	best, bestDist := "", 4
	for _, k := range known {
		if d := distance(key, k); d < bestDist || (d == bestDist && k < best) {
			best, bestDist = k, d
		}
	}
	return best
}

// maxKeyLen is the longest valid key under our prefix: the name part of a qualified key is
// at most 63 characters.
const maxKeyLen = len(contract.Prefix) + 63

// distance is the Levenshtein edit distance.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
