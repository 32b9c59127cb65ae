package render

import (
	"errors"
	"net/url"
	"text/template"
	"text/template/parse"

	"github.com/vault-injector/vault-injector/agent/vault"
	"github.com/vault-injector/vault-injector/contract"
)

// A template may build a Vault path or a write argument from a secret value
// ({{ secret (printf "secret/data/%s" .Data.user) }}). Vault errors name the path, and Vault's
// own messages repeat arguments ("common name <value> not allowed by this role"), so an error of
// a request the template computed keeps only what cannot hold a value: the operation and the
// status. A request made of the template's own string constants is the template's text, which
// the pod's annotations already show, and keeps its whole error.

// computedPath stands in for a path the template computed.
const computedPath = "(a path computed by the template)"

// literals are the string constants of a template: every quoted string in its actions.
func literals(t *template.Template) map[string]bool {
	lits := map[string]bool{}
	contract.WalkTemplates(t, func(n parse.Node) {
		if x, ok := n.(*parse.StringNode); ok {
			lits[x.Text] = true
		}
	})
	return lits
}

// computed reports whether a request's path or arguments are not the template's own constants.
func (it *Item) computed(path string, args []string) bool {
	if !it.lits[path] {
		return true
	}
	for _, a := range args {
		if !it.lits[a] {
			return true
		}
	}
	return false
}

// withholdComputed strips from err what a computed request may have put in it: the path,
// Vault's messages, and the URL of a transport error.
func withholdComputed(err error) error {
	var ve *vault.Error
	if !errors.As(err, &ve) {
		return safef("the Vault request computed by the template failed (its error is withheld: it may hold a secret value)")
	}
	out := &vault.Error{Op: ve.Op, Path: computedPath, Status: ve.Status}
	if len(ve.Errors) > 0 {
		out.Errors = []string{"Vault's message withheld: the request was computed from template data"}
	}
	if ve.Err != nil {
		var ue *url.Error
		if errors.As(ve.Err, &ue) {
			out.Err = ue.Err // the transport's reason, without the URL that holds the path
		} else {
			out.Err = safef("request failed (reason withheld: it may hold a secret value)")
		}
	}
	return out
}

// Names reports whether path is this item's configured path or one of its template's string
// constants: a path the agent may log. Any other path was computed from template data.
func (it *Item) Names(path string) bool { return path != "" && path == it.cfg.Path || it.lits[path] }
