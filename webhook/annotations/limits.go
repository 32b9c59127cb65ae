package annotations

import (
	"fmt"
	"github.com/vault-injector/vault-injector/contract"
	"sort"
	"strings"
	"unicode"

	apivalidation "k8s.io/apimachinery/pkg/api/validation"
)

// Limits on what one pod may ask of an admission. Each keeps the cost of the worst pod small
// (a template that nests 190000 {{if}} once took the webhook from 92 MB to 516 MB), and none
// refuses a pod that could work: the API server's own limits are tighter or equal.
const (
	// MaxTemplateBytes bounds one template-<name>. The agent-config annotation repeats every
	// template, so two of these already take half of the pod's annotation budget.
	MaxTemplateBytes = 64 << 10
	// MaxTemplateDepth bounds the nesting of {{if}}/{{range}}/{{with}}/{{block}}/{{define}}
	// blocks plus parentheses in one template: text/template parses them recursively.
	MaxTemplateDepth = 32
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
	if d := templateDepthDelims(v, left, right); d > MaxTemplateDepth {
		return fmt.Errorf("template nests %d levels deep ({{if}}, {{range}}, {{with}}, {{block}}, {{define}} and parentheses), over the limit of %d: flatten it", d, MaxTemplateDepth)
	}
	return nil
}

// templateDepth is the deepest nesting of control blocks plus parentheses in a template with the
// default delimiters, found by scanning actions the way text/template's lexer does (strings,
// raw strings, characters and comments skipped), without building a tree. It may count a
// malformed template differently from the parser; the parse that follows judges its syntax.
func templateDepth(v string) int { return templateDepthDelims(v, "", "") }

// templateDepthDelims is templateDepth with a secret's delimiters ("" for the default).
func templateDepthDelims(v, left, right string) int {
	sec := contract.Secret{LeftDelim: left, RightDelim: right}
	left, right = sec.Delims()
	depth, deepest := 0, 0
	for {
		i := strings.Index(v, left)
		if i < 0 {
			return deepest
		}
		v = v[i+len(left):]
		if strings.HasPrefix(v, "- ") || strings.HasPrefix(v, "-\t") || strings.HasPrefix(v, "-\n") || strings.HasPrefix(v, "-\r") {
			v = v[1:]
		}
		v = strings.TrimLeft(v, " \t\r\n")
		if strings.HasPrefix(v, "/*") {
			end := strings.Index(v, "*/")
			if end < 0 {
				return deepest
			}
			v = v[end+2:]
			continue
		}
		word := v[:len(v)-len(strings.TrimLeftFunc(v, unicode.IsLetter))]
		switch word {
		case "if", "range", "with", "block", "define":
			depth++
		case "end":
			depth = max(depth-1, 0)
		}
		var parens int
		v, parens = scanAction(v, right)
		deepest = max(deepest, depth+parens)
	}
}

// scanAction skips to the end of an action and returns the rest and its deepest parentheses.
func scanAction(v, right string) (string, int) {
	parens, deepest := 0, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case right[0]:
			if strings.HasPrefix(v[i:], right) {
				return v[i+len(right):], deepest
			}
		case '(':
			parens++
			deepest = max(deepest, parens)
		case ')':
			parens = max(parens-1, 0)
		case '"', '\'', '`':
			end := closing(v[i+1:], c)
			if end < 0 {
				return "", deepest
			}
			i += end + 1
		}
	}
	return "", deepest
}

// closing finds the quote that ends a string, raw string or character constant.
func closing(v string, quote byte) int {
	for i := 0; i < len(v); i++ {
		switch {
		case v[i] == quote:
			return i
		case v[i] == '\\' && quote != '`':
			i++
		}
	}
	return -1
}
