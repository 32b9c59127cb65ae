package vaultk8s

import (
	"fmt"
	"sort"
	"strings"
	"text/template/parse"

	"github.com/vault-injector/vault-injector/contract"
)

// builtins are text/template's own functions, which every template has.
var builtins = map[string]bool{
	"and": true, "call": true, "html": true, "index": true, "slice": true, "js": true, "len": true,
	"not": true, "or": true, "print": true, "printf": true, "println": true, "urlquery": true,
	"eq": true, "ge": true, "gt": true, "le": true, "lt": true, "ne": true,
}

// alternatives say what to use instead of consul-template functions the agent does not offer.
var alternatives = map[string]string{
	"env":             "the agent's container does not have the app's environment: write the value into the template, or keep it in Vault",
	"secrets":         `read each path with secret "<path>"; listing a path is not supported`,
	"file":            "the agent reads no files: put the content in the template or in Vault",
	"executeTemplate": "define and call templates with the built-in {{ define }} and {{ template }}",
	"parseJSON":       "read structured values straight from .Data; secrets are already decoded",
	"plugin":          "the agent runs no external programs",
	"sockaddr":        "the agent does not look up network addresses",
	"key":             "the agent reads Vault only, not Consul",
	"keyOrDefault":    "the agent reads Vault only, not Consul",
	"ls":              "the agent reads Vault only, not Consul",
	"safeLs":          "the agent reads Vault only, not Consul",
	"tree":            "the agent reads Vault only, not Consul",
	"safeTree":        "the agent reads Vault only, not Consul",
	"service":         "the agent reads Vault only, not Consul",
	"services":        "the agent reads Vault only, not Consul",
	"node":            "the agent reads Vault only, not Consul",
	"nodes":           "the agent reads Vault only, not Consul",
}

// checkFuncs names every function a template calls that the agent does not offer, with the
// alternative where there is one. A template that does not parse is left to the annotation
// parser, which reports the syntax error.
func checkFuncs(tmpl, left, right string) []string {
	trees, err := parseTrees(tmpl, left, right)
	if err != nil {
		return nil
	}
	offered := map[string]bool{}
	for _, f := range contract.TemplateFuncs {
		offered[f] = true
	}
	seen := map[string]bool{}
	for _, tr := range trees {
		contract.WalkTemplate(tr.Root, func(n parse.Node) {
			if id, ok := n.(*parse.IdentifierNode); ok && !offered[id.Ident] && !builtins[id.Ident] {
				seen[id.Ident] = true
			}
		})
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	var msgs []string
	for _, n := range names {
		alt := alternatives[n]
		if strings.HasPrefix(n, "sprig_") {
			alt = "sprig functions are not offered: use the agent's string helpers (toUpper, toLower, trimSpace, split, join, replaceAll, contains)"
		}
		if alt == "" {
			alt = "the agent's template functions are listed in docs/agent.md#templates"
		}
		msgs = append(msgs, fmt.Sprintf("the template calls %s, which the agent does not offer: %s", n, alt))
	}
	return msgs
}

// firstSecretPath is the path of the template's first `secret "<path>"` (or pkiCert) call, or "".
func firstSecretPath(tmpl, left, right string) string {
	trees, err := parseTrees(tmpl, left, right)
	if err != nil {
		return ""
	}
	found := ""
	for _, tr := range trees {
		contract.WalkTemplate(tr.Root, func(n parse.Node) {
			c, ok := n.(*parse.CommandNode)
			if !ok || found != "" || len(c.Args) < 2 {
				return
			}
			if id, ok := c.Args[0].(*parse.IdentifierNode); ok && (id.Ident == "secret" || id.Ident == "pkiCert") {
				if s, ok := c.Args[1].(*parse.StringNode); ok {
					found = s.Text
				}
			}
		})
	}
	return found
}

// readsDot reports whether a template may read its own dot; one that does not parse counts as
// reading it (the annotation parser reports the syntax error).
func readsDot(tmpl, left, right string) bool {
	trees, err := parseTrees(tmpl, left, right)
	if err != nil {
		return true
	}
	main := trees["t"] // the others are {{define}}d: their dot is what the main one passes
	return main != nil && contract.NodeReadsDot(main.Root)
}

// parseTrees parses with the secret's delimiters ("" for the defaults, as parse takes them).
func parseTrees(tmpl, left, right string) (map[string]*parse.Tree, error) {
	tr := parse.New("t")
	tr.Mode = parse.SkipFuncCheck
	trees := map[string]*parse.Tree{}
	_, err := tr.Parse(tmpl, left, right, trees)
	return trees, err
}
