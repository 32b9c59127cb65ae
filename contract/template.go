package contract

import (
	"fmt"
	"sort"
	"strings"
	"text/template"
	"text/template/parse"
)

// CheckTemplateCalls refuses a template that calls itself, directly or through other
// {{define}}d templates. text/template only stops such a template at 100000 nested calls, and a
// recursive template once took the agent to 102 MiB before that, so under its memory limit it
// was killed in a loop without a message. The webhook checks at admission and the agent when it
// compiles, with this one function.
func CheckTemplateCalls(t *template.Template) error {
	calls := map[string][]string{}
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			calls[tt.Name()] = templateCalls(tt.Root)
		}
	}
	const (
		unseen = iota
		active
		done
	)
	state := map[string]int{}
	var path []string
	var visit func(name string) error
	visit = func(name string) error {
		switch state[name] {
		case active:
			i := len(path) - 1
			for path[i] != name {
				i--
			}
			return fmt.Errorf("the template calls itself (%s): recursion is refused, write the repeated part out or use range",
				quoteChain(append(path[i:], name)))
		case done:
			return nil
		}
		state[name] = active
		path = append(path, name)
		for _, c := range calls[name] {
			if err := visit(c); err != nil {
				return err
			}
		}
		path = path[:len(path)-1]
		state[name] = done
		return nil
	}
	// The main template first, then the others by name: one template gives one message.
	names := make([]string, 0, len(calls))
	for n := range calls {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range append([]string{t.Name()}, names...) {
		if err := visit(n); err != nil {
			return err
		}
	}
	return nil
}

func quoteChain(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, " calls ")
}

// templateCalls are the names of the templates that n invokes with {{template}} (and
// {{block}}, which parses to one).
func templateCalls(n parse.Node) []string {
	var out []string
	WalkTemplate(n, func(n parse.Node) {
		if x, ok := n.(*parse.TemplateNode); ok {
			out = append(out, x.Name)
		}
	})
	return out
}

// TemplateReadsDot reports whether a template may read its own dot (the secret of its
// secret-<name> path): `.` or `.Data` outside the body of a with or range (which rebinds the
// dot), or `$` anywhere. A template that does not may stand without a path (Secret.Path ""),
// as vault-k8s' agent-inject-template-<name> without agent-inject-secret-<name>. A {{define}}d
// template's dot is what its caller passes, which the caller's own walk sees.
func TemplateReadsDot(t *template.Template) bool {
	return t.Tree != nil && NodeReadsDot(t.Root)
}

// NodeReadsDot is TemplateReadsDot for one parse tree.
func NodeReadsDot(n parse.Node) bool {
	switch x := n.(type) {
	case *parse.DotNode, *parse.FieldNode:
		return true
	case *parse.VariableNode:
		return x.Ident[0] == "$"
	case *parse.ListNode:
		return x != nil && anyReadsDot(x.Nodes...)
	case *parse.ActionNode:
		return NodeReadsDot(x.Pipe)
	case *parse.PipeNode:
		if x == nil {
			return false
		}
		for _, c := range x.Cmds {
			if NodeReadsDot(c) {
				return true
			}
		}
		return false
	case *parse.CommandNode:
		return anyReadsDot(x.Args...)
	case *parse.ChainNode:
		return NodeReadsDot(x.Node)
	case *parse.TemplateNode:
		return NodeReadsDot(x.Pipe)
	case *parse.IfNode:
		return NodeReadsDot(x.Pipe) || NodeReadsDot(x.List) || NodeReadsDot(x.ElseList)
	case *parse.WithNode:
		return rebinds(&x.BranchNode)
	case *parse.RangeNode:
		return rebinds(&x.BranchNode)
	}
	return false
}

// rebinds is a with or range: its body sees another dot, but $ is still the template's.
func rebinds(b *parse.BranchNode) bool {
	return NodeReadsDot(b.Pipe) || NodeReadsDot(b.ElseList) || readsDollar(b.List)
}

func readsDollar(n parse.Node) bool {
	found := false
	WalkTemplate(n, func(n parse.Node) {
		if v, ok := n.(*parse.VariableNode); ok && v.Ident[0] == "$" {
			found = true
		}
	})
	return found
}

func anyReadsDot(nodes ...parse.Node) bool {
	for _, n := range nodes {
		if NodeReadsDot(n) {
			return true
		}
	}
	return false
}
