package config

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
)

// flagsDoc is the flag reference; this test keeps it equal to what the binary binds.
const flagsDoc = "docs/flags.md"

// repoRoot is where the docs live, seen from this package.
const repoRoot = "../.."

// boundFlags binds a FlagSet as webhook/main.go does: serve binds the injection and the
// serving flags, inject the injection flags only; both after setting the release's agent image.
func boundFlags(serving bool) *flag.FlagSet {
	cfg := New()
	fs := flag.NewFlagSet("docs", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.Inject.AgentImage = AgentImage("<version>")
	cfg.BindInjection(fs)
	if serving {
		cfg.BindServer(fs)
	}
	return fs
}

// TestFlagsDocumented holds docs/flags.md to the flags the webhook binds: every flag has one row
// in the table of the commands that take it (Injection: serve and inject; Serving: serve only),
// no row names a flag that does not exist, and each row's default is the flag's own.
func TestFlagsDocumented(t *testing.T) {
	tables := readTables(t, filepath.Join(repoRoot, flagsDoc))
	injection := map[string]bool{}
	boundFlags(false).VisitAll(func(f *flag.Flag) { injection[f.Name] = true })
	all := map[string]*flag.Flag{}
	boundFlags(true).VisitAll(func(f *flag.Flag) { all[f.Name] = f })

	documented := map[string]string{} // flag → heading of its table
	for _, tb := range tables {
		if len(tb.header) == 0 || tb.header[0] != "flag" {
			continue
		}
		heading := strings.ToLower(tb.heading)
		var wantInjection bool
		switch {
		case strings.Contains(heading, "injection"):
			wantInjection = true
		case strings.Contains(heading, "serving"):
		default:
			t.Errorf("%s:%d: a flag table under %q: put it under the Injection or the Serving heading, which say which commands take a flag", flagsDoc, tb.line, tb.heading)
			continue
		}
		defCol := column(tb.header, "default")
		if defCol < 0 {
			t.Errorf("%s:%d: the flag table under %q has no default column", flagsDoc, tb.line, tb.heading)
		}
		for _, r := range tb.rows {
			names := codeSpans(r.cells[0])
			if len(names) != 1 || !strings.HasPrefix(names[0], "--") {
				t.Errorf("%s:%d: the first cell must name one flag, as `--name`: %q", flagsDoc, r.line, r.cells[0])
				continue
			}
			name := strings.TrimPrefix(names[0], "--")
			f, ok := all[name]
			switch {
			case !ok:
				t.Errorf("%s:%d: documents --%s, which the webhook does not define (webhook/config/config.go): remove the row or fix the name", flagsDoc, r.line, name)
				continue
			case documented[name] != "":
				t.Errorf("%s:%d: documents --%s a second time (first under %q): keep one row", flagsDoc, r.line, name, documented[name])
				continue
			case injection[name] != wantInjection:
				t.Errorf("%s:%d: --%s is under %q, but `inject` %s it: move the row to the %s table", flagsDoc, r.line, name, tb.heading,
					map[bool]string{true: "takes", false: "does not take"}[injection[name]],
					map[bool]string{true: "Injection", false: "Serving"}[injection[name]])
			}
			documented[name] = tb.heading
			if defCol >= 0 && defCol < len(r.cells) {
				if msg := checkDefault(r.cells[defCol], f.DefValue); msg != "" {
					t.Errorf("%s:%d: --%s: %s", flagsDoc, r.line, name, msg)
				}
			}
		}
	}
	var missing []string
	for name := range all {
		if documented[name] == "" {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	for _, name := range missing {
		table := "Serving flags"
		if injection[name] {
			table = "Injection flags"
		}
		t.Errorf("%s: --%s is defined (webhook/config/config.go) but not documented: add a row to the %s table (default %q, usage %q)",
			flagsDoc, name, table, all[name].DefValue, all[name].Usage)
	}
}

// checkDefault compares a default cell with the flag's default: the cell starts with the
// default in backticks, or with words when the default is empty.
func checkDefault(cell, def string) string {
	cell = strings.TrimSpace(cell)
	if !strings.HasPrefix(cell, "`") {
		if def != "" {
			return "the default column must start with the default, `" + def + "`"
		}
		return ""
	}
	got := codeSpans(cell)[0]
	if def == "" {
		return "the default is empty, but the default column starts with `" + got + "`: say it in words, such as (none)"
	}
	if got == def {
		return ""
	}
	// 1h is what a reader writes for the 1h0m0s that flag prints.
	if a, err := time.ParseDuration(got); err == nil {
		if b, err := time.ParseDuration(def); err == nil && a == b {
			return ""
		}
	}
	return "the documented default `" + got + "` is not the flag's default `" + def + "`"
}

// TestDocLinksResolve checks every relative link of the repository's Markdown pages: the file
// or directory exists, and an #anchor names a heading of the page it points at.
func TestDocLinksResolve(t *testing.T) {
	var pages []string
	for _, pattern := range []string{"*.md", "docs/*.md", "agent/*.md"} {
		m, err := filepath.Glob(filepath.Join(repoRoot, pattern))
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, m...)
	}
	if len(pages) < 3 {
		t.Fatalf("found only %v: is %s the repository root?", pages, repoRoot)
	}
	anchors := map[string]map[string]bool{}
	anchorsOf := func(page string) map[string]bool {
		if a, ok := anchors[page]; ok {
			return a
		}
		b, err := os.ReadFile(page)
		if err != nil {
			return nil
		}
		a := headingAnchors(string(b))
		anchors[page] = a
		return a
	}
	for _, page := range pages {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(repoRoot, page)
		for _, l := range links(string(b)) {
			target, anchor, _ := strings.Cut(l.target, "#")
			dest := page
			if target != "" {
				dest = filepath.Join(filepath.Dir(page), filepath.FromSlash(target))
				if _, err := os.Stat(dest); err != nil {
					t.Errorf("%s:%d: link %q: %s does not exist: fix the path (relative to %s)", rel, l.line, l.target, target, filepath.Dir(rel))
					continue
				}
			}
			if anchor == "" || !strings.HasSuffix(dest, ".md") {
				continue
			}
			if !anchorsOf(dest)[anchor] {
				destRel, _ := filepath.Rel(repoRoot, dest)
				t.Errorf("%s:%d: link %q: %s has no heading with anchor #%s: fix the anchor or the heading", rel, l.line, l.target, destRel, anchor)
			}
		}
	}
}

type link struct {
	target string
	line   int
}

var linkRE = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// links are the relative Markdown links of a page, outside code blocks and code spans.
func links(doc string) []link {
	var out []link
	fenced := false
	for i, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		for _, m := range linkRE.FindAllStringSubmatch(stripCodeSpans(line), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			out = append(out, link{target: target, line: i + 1})
		}
	}
	return out
}

var codeSpanRE = regexp.MustCompile("`[^`]*`")

func stripCodeSpans(s string) string { return codeSpanRE.ReplaceAllString(s, "") }

// headingAnchors are the anchors GitHub gives a page's headings: lower case, punctuation
// dropped, spaces as '-', a -N suffix for repeats.
func headingAnchors(doc string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	fenced := false
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if fenced || !strings.HasPrefix(line, "#") {
			continue
		}
		text := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(text) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		a := b.String()
		if n := seen[a]; n > 0 {
			out[a+"-"+strconv.Itoa(n)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}

// A Markdown table, as the docs write them: a header row, a |---| row, then rows.
type table struct {
	heading string // the nearest heading above it
	line    int    // of the header row
	header  []string
	rows    []row
}

type row struct {
	cells []string
	line  int
}

func readTables(t *testing.T, file string) []table {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	var out []table
	heading := ""
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if strings.HasPrefix(line, "#") {
			heading = strings.TrimSpace(strings.TrimLeft(line, "#"))
			continue
		}
		if !strings.HasPrefix(line, "|") || i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "|-") && !strings.HasPrefix(lines[i+1], "|:") {
			continue
		}
		tb := table{heading: heading, line: i + 1, header: cells(line)}
		for i += 2; i < len(lines) && strings.HasPrefix(lines[i], "|"); i++ {
			tb.rows = append(tb.rows, row{cells: cells(lines[i]), line: i + 1})
		}
		out = append(out, tb)
	}
	return out
}

// cells splits a table row on the '|' that are not escaped as '\|'.
func cells(line string) []string {
	line = strings.TrimSpace(line)
	line = strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|")
	var out []string
	var cur strings.Builder
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line) && line[i+1] == '|':
			cur.WriteByte('|')
			i++
		case line[i] == '|':
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(line[i])
		}
	}
	return append(out, strings.TrimSpace(cur.String()))
}

func column(header []string, name string) int {
	for i, h := range header {
		if h == name {
			return i
		}
	}
	return -1
}

var spanRE = regexp.MustCompile("`([^`]+)`")

// codeSpans are the `quoted` parts of a cell.
func codeSpans(cell string) []string {
	var out []string
	for _, m := range spanRE.FindAllStringSubmatch(cell, -1) {
		out = append(out, m[1])
	}
	return out
}
