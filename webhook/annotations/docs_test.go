package annotations

import (
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/vault-injector/vault-injector/contract"
)

// annotationsDoc is the annotation reference; this test keeps it equal to the validator tables.
const annotationsDoc = "docs/annotations.md"

// perSecret marks a per-secret key in the docs: `secret-<name>` is the prefix secret-.
const perSecret = "<name>"

// acceptedKeys are the keys Parse accepts, without the vault-injector.io/ prefix: the pod-wide
// keys of fields (those the webhook writes included) and, as prefix+"<name>", the per-secret
// ones (secret-<name> itself is handled by Parse, its companions by secretFields).
func acceptedKeys() map[string]string {
	keys := map[string]string{}
	for k := range fields {
		keys[strings.TrimPrefix(k, contract.Prefix)] = "fields (webhook/annotations/fields.go)"
	}
	keys[strings.TrimPrefix(contract.AnnotationSecretPrefix, contract.Prefix)+perSecret] = "Parse (webhook/annotations/options.go)"
	for p := range secretFields {
		keys[strings.TrimPrefix(p, contract.Prefix)+perSecret] = "secretFields (webhook/annotations/fields.go)"
	}
	return keys
}

// TestAnnotationsDocumented holds docs/annotations.md to what Parse accepts: every key has one
// row in a table whose first column is "key", and every key in such a table is accepted.
func TestAnnotationsDocumented(t *testing.T) {
	b, err := os.ReadFile("../../" + annotationsDoc)
	if err != nil {
		t.Fatal(err)
	}
	accepted := acceptedKeys()
	documented := map[string]int{} // key → line
	for _, r := range keyRows(string(b), "key") {
		keys := spans(r.first)
		if len(keys) == 0 {
			t.Errorf("%s:%d: the key column names no key in backticks: %q", annotationsDoc, r.line, r.first)
		}
		for _, k := range keys {
			k = strings.TrimPrefix(k, contract.Prefix)
			switch _, ok := accepted[k]; {
			case !ok:
				t.Errorf("%s:%d: documents %s%s, which the webhook does not accept: remove it or fix its spelling (per-secret keys are written `prefix-%s`)",
					annotationsDoc, r.line, contract.Prefix, k, perSecret)
			case documented[k] > 0:
				t.Errorf("%s:%d: documents %s%s a second time (first on line %d): keep one row", annotationsDoc, r.line, contract.Prefix, k, documented[k])
			default:
				documented[k] = r.line
			}
		}
	}
	var missing []string
	for k := range accepted {
		if documented[k] == 0 {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	for _, k := range missing {
		t.Errorf("%s: %s%s is accepted by %s but not documented: add a row for `%s` to a key table", annotationsDoc, contract.Prefix, k, accepted[k], k)
	}
}

type keyRow struct {
	first string // the first cell
	line  int
}

// keyRows are the body rows of the Markdown tables whose first header cell is header.
func keyRows(doc, header string) []keyRow {
	lines := strings.Split(doc, "\n")
	var out []keyRow
	for i := 0; i+1 < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "|") || !strings.HasPrefix(lines[i+1], "|-") {
			continue
		}
		if firstCell(lines[i]) != header {
			for i++; i < len(lines) && strings.HasPrefix(lines[i], "|"); i++ {
			}
			continue
		}
		for i += 2; i < len(lines) && strings.HasPrefix(lines[i], "|"); i++ {
			out = append(out, keyRow{first: firstCell(lines[i]), line: i + 1})
		}
	}
	return out
}

// firstCell is a row's first cell, up to the first '|' that is not escaped as '\|'.
func firstCell(line string) string {
	line = strings.TrimPrefix(strings.TrimSpace(line), "|")
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '\\':
			i++
		case '|':
			return strings.TrimSpace(line[:i])
		}
	}
	return strings.TrimSpace(line)
}

var spanRE = regexp.MustCompile("`([^`]+)`")

func spans(cell string) []string {
	var out []string
	for _, m := range spanRE.FindAllStringSubmatch(cell, -1) {
		out = append(out, m[1])
	}
	return out
}
