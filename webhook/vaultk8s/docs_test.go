package vaultk8s

import (
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// migrationDoc holds the vault-k8s mapping table; this test keeps it equal to the translator's
// tables.
const migrationDoc = "docs/migrating-from-vault-k8s.md"

// mappingHeader is the first header cell of the mapping table.
const mappingHeader = "vault-k8s annotation"

// placeholderRE matches a per-secret key as the docs write it: agent-inject-secret-<name>,
// auth-config-<option>.
var placeholderRE = regexp.MustCompile(`^(.+-)<[a-z]+>$`)

// TestMappingDocumented holds the mapping table of docs/migrating-from-vault-k8s.md to the
// keys the translator knows: every key of podKeys and every prefix of secretPrefixes (written
// prefix-<name>) has a row, and every key in the table's first column is one of them.
func TestMappingDocumented(t *testing.T) {
	b, err := os.ReadFile("../../" + migrationDoc)
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]string{} // key or prefix+"<>" → where the code has it
	for k := range podKeys {
		known[k] = "podKeys (webhook/vaultk8s/table.go)"
	}
	for _, p := range secretPrefixes {
		known[p.prefix+"<>"] = "secretPrefixes (webhook/vaultk8s/secrets.go)"
	}
	documented := map[string]int{}
	rows := mappingRows(string(b))
	if len(rows) == 0 {
		t.Fatalf("%s has no table whose first column is %q", migrationDoc, mappingHeader)
	}
	for _, r := range rows {
		keys := spans(r.first)
		if len(keys) == 0 {
			t.Errorf("%s:%d: the %q column names no key in backticks: %q", migrationDoc, r.line, mappingHeader, r.first)
		}
		for _, k := range keys {
			k = strings.TrimPrefix(k, Prefix)
			id := k
			if m := placeholderRE.FindStringSubmatch(k); m != nil {
				id = m[1] + "<>"
			}
			switch _, ok := known[id]; {
			case !ok:
				t.Errorf("%s:%d: documents %s%s, which the vault-k8s translator does not know: remove it or fix its spelling (per-secret keys are written `prefix-<name>`)",
					migrationDoc, r.line, Prefix, k)
			case documented[id] > 0:
				t.Errorf("%s:%d: documents %s%s a second time (first on line %d): keep one row", migrationDoc, r.line, Prefix, k, documented[id])
			default:
				documented[id] = r.line
			}
		}
	}
	var missing []string
	for id := range known {
		if documented[id] == 0 {
			missing = append(missing, id)
		}
	}
	sort.Strings(missing)
	for _, id := range missing {
		key := strings.TrimSuffix(id, "<>")
		if key != id {
			key += "<name>"
		}
		t.Errorf("%s: %s%s is handled by %s but has no row in the mapping table: add `%s` with what it becomes here", migrationDoc, Prefix, key, known[id], key)
	}
}

type mappingRow struct {
	first, verdict string
	line           int
}

// verdictRE is one part of the verdict column: an optional value it applies to, then what
// happens to the key (a parenthesis may say more).
var verdictRE = regexp.MustCompile(`^(?:[^:]+: )?(translated, with a difference|translated|refused|warned)(?: \(.+\))?$`)

// TestMappingVerdicts holds the mapping table's second column to the four verdicts the docs
// promise: translated, translated with a difference, refused, warned (per value when it
// depends on one, parts separated by "; ").
func TestMappingVerdicts(t *testing.T) {
	b, err := os.ReadFile("../../" + migrationDoc)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range mappingRows(string(b)) {
		for _, part := range strings.Split(r.verdict, "; ") {
			if !verdictRE.MatchString(part) {
				t.Errorf("%s:%d: verdict %q: write translated, translated, with a difference, refused or warned (optionally `value: ` before and a parenthesis after; parts separated by \"; \")", migrationDoc, r.line, part)
			}
		}
	}
}

// mappingRows are the body rows of the tables whose first header cell is mappingHeader.
func mappingRows(doc string) []mappingRow {
	lines := strings.Split(doc, "\n")
	var out []mappingRow
	for i := 0; i+1 < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "|") || !strings.HasPrefix(lines[i+1], "|-") {
			continue
		}
		if first, _ := firstCell(lines[i]); first != mappingHeader {
			for i++; i < len(lines) && strings.HasPrefix(lines[i], "|"); i++ {
			}
			continue
		}
		for i += 2; i < len(lines) && strings.HasPrefix(lines[i], "|"); i++ {
			first, rest := firstCell(lines[i])
			verdict, _ := firstCell(rest)
			out = append(out, mappingRow{first: first, verdict: verdict, line: i + 1})
		}
	}
	return out
}

// firstCell is a row's first cell, up to the first '|' that is not escaped as '\|', and the
// rest of the row after it.
func firstCell(line string) (cell, rest string) {
	line = strings.TrimPrefix(strings.TrimSpace(line), "|")
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '\\':
			i++
		case '|':
			return strings.TrimSpace(line[:i]), line[i:]
		}
	}
	return strings.TrimSpace(line), ""
}

var spanRE = regexp.MustCompile("`([^`]+)`")

func spans(cell string) []string {
	var out []string
	for _, m := range spanRE.FindAllStringSubmatch(cell, -1) {
		out = append(out, m[1])
	}
	return out
}
