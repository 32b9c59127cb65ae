// Package shorten cuts long values for messages that quote them (annotation values, most
// often), so that one bad template does not make a message the size of the template.
package shorten

import "unicode/utf8"

// String is v when it has at most max bytes, else its first max bytes and "…", or fewer bytes
// when max would split a character: the cut then falls before it, so valid UTF-8 stays valid
// (and %q does not show half a character as bytes). Invalid bytes are cut as bytes.
func String(v string, max int) string {
	if len(v) <= max {
		return v
	}
	cut := max
	// The last character that starts before the cut begins at most UTFMax-1 bytes before it.
	for i := max - 1; i >= 0 && i > max-utf8.UTFMax; i-- {
		if utf8.RuneStart(v[i]) {
			if _, size := utf8.DecodeRuneInString(v[i:]); i+size > max {
				cut = i
			}
			break
		}
	}
	return v[:cut] + "…"
}
