package contract

import (
	"fmt"
	"strings"
	"unicode"
)

// MaxTemplateDepth bounds the nesting of {{if}}/{{range}}/{{with}}/{{block}}/{{define}} blocks
// plus parentheses in one template: text/template parses them recursively (a template nesting
// 190000 {{if}} once took the webhook from 92 MB to 516 MB). The webhook checks a template
// annotation at admission, the agent a template file when it reads it.
const MaxTemplateDepth = 32

// CheckTemplateDepth refuses a template nesting deeper than MaxTemplateDepth, before parsing.
func CheckTemplateDepth(v, left, right string) error {
	if d := TemplateDepth(v, left, right); d > MaxTemplateDepth {
		return fmt.Errorf("template nests %d levels deep ({{if}}, {{range}}, {{with}}, {{block}}, {{define}} and parentheses), over the limit of %d: flatten it", d, MaxTemplateDepth)
	}
	return nil
}

// TemplateDepth is the deepest nesting of control blocks plus parentheses in a template with a
// secret's delimiters ("" for the default), found by scanning actions the way text/template's
// lexer does (strings, raw strings, characters and comments skipped), without building a tree.
// It may count a malformed template differently from the parser; the parse that follows judges
// its syntax.
func TemplateDepth(v, left, right string) int {
	sec := Secret{LeftDelim: left, RightDelim: right}
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
