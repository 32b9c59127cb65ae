package render

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"text/template"

	"github.com/vault-injector/vault-injector/agent/vault"
)

// text/template puts values into some of its execution errors ("range can't iterate over
// P@ss", "non-comparable types map[password:...]"), and render errors end up on stderr, in the
// JSON log and in the termination message. So an execution error is rebuilt from what cannot
// hold a value: the template position, the action, and the kind of problem, picked from the
// fixed list below by the message's fixed prefix. Vault errors and the renderer's own errors
// (safeError) never hold values and pass through.

// TemplateError is a failed template execution, without values.
type TemplateError struct {
	Pos    string // "name:line:col"
	Action string // the template action being executed, from the template's source
	Kind   string
	Err    error // a Vault or renderer error that caused it, or nil
}

func (e *TemplateError) Error() string {
	var b strings.Builder
	b.WriteString("template: " + e.Pos + ": ")
	if e.Action != "" {
		b.WriteString("at <" + e.Action + ">: ")
	}
	b.WriteString(e.Kind)
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

func (e *TemplateError) Unwrap() error { return e.Err }

// safeError is an error of the renderer's own whose message never holds a value.
type safeError struct{ msg string }

func (e *safeError) Error() string { return e.msg }

func safef(format string, a ...any) error { return &safeError{msg: fmt.Sprintf(format, a...)} }

// execHead is text/template's "template: NAME:LINE:COL: executing "NAME" at <"; the action
// and the message follow.
var execHead = regexp.MustCompile(`^template: ([^\s:]+:\d+:\d+): executing "[^"]*" at <`)

// kinds maps text/template's execution messages to what may be shown: a message whose format
// holds only type names, template identifiers or numbers is kept; one that can hold a value
// is replaced. Patterns are anchored at the fixed start of each format.
var kinds = []struct {
	re   *regexp.Regexp
	show string // "" keeps the message as is
}{
	{regexp.MustCompile(`^map has no entry for key "[\w-]*"$`), ""},
	{regexp.MustCompile(`^nil data; no entry for key "[\w-]*"$`), ""},
	{regexp.MustCompile(`^can't evaluate field \w+ in type [\w\[\]{}*. ]+$`), ""},
	{regexp.MustCompile(`^nil pointer evaluating [\w\[\]{}*. ]+$`), ""},
	{regexp.MustCompile(`^wrong type for value; expected [\w\[\]{}*. ]+; got [\w\[\]{}*. ]+$`), ""},
	{regexp.MustCompile(`^value has type [\w\[\]{}*. ]+; should be [\w\[\]{}*. ]+$`), ""},
	{regexp.MustCompile(`^value is nil; should be of type [\w\[\]{}*. ]+$`), ""},
	{regexp.MustCompile(`^invalid value; expected [\w\[\]{}*. ]+$`), ""},
	{regexp.MustCompile(`^incompatible types for comparison: [\w\[\]{}*. ]+ and [\w\[\]{}*. ]+$`), ""},
	{regexp.MustCompile(`^(invalid type for comparison|missing argument for comparison)$`), ""},
	{regexp.MustCompile(`^wrong number of args for \w+: [\w ]+$`), ""},
	{regexp.MustCompile(`^(can't index item|can't slice item|len) of type [\w\[\]{}*. ]+$`), ""},
	{regexp.MustCompile(`^cannot index slice/array with (type [\w\[\]{}*. ]+|nil)$`), ""},
	{regexp.MustCompile(`^index out of range: -?\d+$`), ""},
	{regexp.MustCompile(`^invalid slice index: -?\d+ > -?\d+$`), ""},
	{regexp.MustCompile(`^(index|slice|len) of (untyped )?nil( pointer)?$`), ""},
	{regexp.MustCompile(`^exceeded maximum template depth \(\d+\)$`), ""},
	{regexp.MustCompile(`^non-comparable type`), "comparison of values that cannot be compared (maps, lists)"},
	{regexp.MustCompile(`^range can't iterate over `), "range over a value that is not a list, map, number or channel"},
	{regexp.MustCompile(`^can't use .* iterate over more than one variable`), "range with two variables over a value without keys"},
	{regexp.MustCompile(`^if/with can't use `), "if/with on a value without a truth value"},
}

// cleanExecError turns an error of Template.Execute into one without values.
func cleanExecError(err error) error {
	var safe *safeError
	var ve *vault.Error
	var te template.ExecError
	if !errors.As(err, &te) {
		// Not from an action: the output limit, or a message naming only the template.
		if errors.As(err, &safe) {
			return safe
		}
		return &TemplateError{Pos: "?", Kind: "execution failed (message withheld: it may hold a secret value)"}
	}
	msg := err.Error()
	m := execHead.FindStringSubmatch(msg)
	if m == nil {
		return &TemplateError{Pos: te.Name, Kind: "execution failed (message withheld: it may hold a secret value)"}
	}
	rest := msg[len(m[0]):]
	action, tail, ok := splitAction(rest)
	if !ok {
		return &TemplateError{Pos: m[1], Kind: "execution failed (message withheld: it may hold a secret value)"}
	}
	out := &TemplateError{Pos: m[1], Action: shorten(action)}
	if fn, _, called := strings.Cut(tail, ": "); strings.HasPrefix(fn, "error calling ") && called {
		out.Kind = fn
		switch {
		case errors.As(err, &ve):
			out.Err = ve
		case errors.As(err, &safe):
			out.Err = safe
		default:
			inner := strings.TrimPrefix(tail, fn+": ")
			out.Kind += ": " + classify(inner)
		}
		return out
	}
	out.Kind = classify(tail)
	return out
}

// splitAction splits at the first ">: ": the action before it is the template's own text, so a
// value can only come after it. An action that itself holds ">: " gives an unknown tail, and
// the message is withheld.
func splitAction(rest string) (action, tail string, ok bool) {
	action, tail, found := strings.Cut(rest, ">: ")
	if !found || (!strings.HasPrefix(tail, "error calling ") && !known(tail)) {
		return "", "", false
	}
	return action, tail, true
}

func known(msg string) bool {
	for _, k := range kinds {
		if k.re.MatchString(msg) {
			return true
		}
	}
	return false
}

func classify(msg string) string {
	for _, k := range kinds {
		if k.re.MatchString(msg) {
			if k.show == "" {
				return msg
			}
			return k.show
		}
	}
	return "execution failed (message withheld: it may hold a secret value)"
}

func shorten(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}
