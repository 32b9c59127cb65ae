package contract

import (
	"text/template"
	"text/template/parse"
)

// WalkTemplate visits n and every node below it, in order: the one walk over text/template's
// parse trees that the webhook's checks and the agent's renderer share.
func WalkTemplate(n parse.Node, visit func(parse.Node)) {
	switch x := n.(type) {
	case nil:
		return
	case *parse.ListNode:
		if x == nil {
			return
		}
		visit(x)
		for _, c := range x.Nodes {
			WalkTemplate(c, visit)
		}
		return
	case *parse.PipeNode:
		if x == nil {
			return
		}
		visit(x)
		for _, c := range x.Cmds {
			WalkTemplate(c, visit)
		}
		return
	}
	visit(n)
	switch x := n.(type) {
	case *parse.ActionNode:
		WalkTemplate(x.Pipe, visit)
	case *parse.CommandNode:
		for _, a := range x.Args {
			WalkTemplate(a, visit)
		}
	case *parse.IfNode:
		walkBranch(&x.BranchNode, visit)
	case *parse.RangeNode:
		walkBranch(&x.BranchNode, visit)
	case *parse.WithNode:
		walkBranch(&x.BranchNode, visit)
	case *parse.TemplateNode:
		WalkTemplate(x.Pipe, visit)
	case *parse.ChainNode:
		WalkTemplate(x.Node, visit)
	}
}

func walkBranch(b *parse.BranchNode, visit func(parse.Node)) {
	WalkTemplate(b.Pipe, visit)
	WalkTemplate(b.List, visit)
	WalkTemplate(b.ElseList, visit)
}

// WalkTemplates walks every template t defines, t itself included.
func WalkTemplates(t *template.Template, visit func(parse.Node)) {
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			WalkTemplate(tt.Root, visit)
		}
	}
}
