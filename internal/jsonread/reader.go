// Package jsonread reads JSON in one pass, without reflection: a cursor that walks objects and
// arrays, decodes the strings and booleans asked for and validates everything it skips. The
// webhook reads a few fields of a 10 KiB admission review per request; encoding/json would scan
// it twice per Unmarshal (validate, then decode) and reflect over every field, which was most
// of the webhook's CPU.
//
// Values read into Go types follow encoding/json: null leaves a string or bool unchanged,
// invalid UTF-8 becomes U+FFFD, and keys match case-sensitively (as Kubernetes decodes JSON).
// FuzzReader holds it to encoding/json's verdict on every input.
package jsonread

import (
	"fmt"
)

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

// Reader is a cursor over one JSON document.
type Reader struct {
	buf   []byte
	pos   int
	depth int
}

// New returns a Reader at the start of b. b must not change while it is read.
func New(b []byte) *Reader { return &Reader{buf: b} }

// SyntaxError is invalid JSON, with the offset where it was found.
type SyntaxError struct {
	Msg    string
	Offset int
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at offset %d: %s", e.Offset, e.Msg)
}

// TypeError is valid JSON of the wrong kind for the value asked for.
type TypeError struct {
	Want   string
	Offset int
}

func (e *TypeError) Error() string {
	return fmt.Sprintf("JSON value at offset %d is not %s", e.Offset, e.Want)
}

func (r *Reader) syntax(msg string) error { return &SyntaxError{Msg: msg, Offset: r.pos} }

// wrongType passes over a valid value of the wrong kind: a *TypeError at its start.
func (r *Reader) wrongType(want string) error {
	start := r.pos
	if err := r.Skip(); err != nil {
		return err
	}
	return &TypeError{Want: want, Offset: start}
}

// ws skips white space and returns the next byte, or 0 at the end.
func (r *Reader) ws() byte {
	for r.pos < len(r.buf) {
		switch c := r.buf[r.pos]; c {
		case ' ', '\t', '\n', '\r':
			r.pos++
		default:
			return c
		}
	}
	return 0
}

// End checks that only white space follows the value read.
func (r *Reader) End() error {
	if r.ws(); r.pos != len(r.buf) {
		return r.syntax("data after the top-level value")
	}
	return nil
}

// Null consumes a null and reports whether there was one.
func (r *Reader) Null() bool {
	if r.ws() == 'n' {
		if err := r.literal("null"); err == nil {
			return true
		}
	}
	return false
}

// Object calls field with each member's key (valid until the next read); field must consume
// the value, by reading or skipping it. A null is an object without members.
func (r *Reader) Object(field func(key []byte) error) error {
	switch r.ws() {
	case 'n':
		return r.literal("null")
	case '{':
	default:
		return r.wrongType("an object")
	}
	if err := r.enter(); err != nil {
		return err
	}
	r.pos++
	if r.ws() == '}' {
		r.pos++
		r.depth--
		return nil
	}
	for {
		if r.ws() != '"' {
			return r.syntax("expected a string key")
		}
		key, err := r.stringBytes()
		if err != nil {
			return err
		}
		if r.ws() != ':' {
			return r.syntax("expected ':' after a key")
		}
		r.pos++
		if err := field(key); err != nil {
			return err
		}
		switch r.ws() {
		case ',':
			r.pos++
		case '}':
			r.pos++
			r.depth--
			return nil
		default:
			return r.syntax("expected ',' or '}' in an object")
		}
	}
}

// Array calls elem for each element; elem must consume it. A null is an empty array; isNull
// tells the caller which (encoding/json gives a nil slice for null, an empty one for []).
func (r *Reader) Array(elem func() error) (isNull bool, err error) {
	switch r.ws() {
	case 'n':
		return true, r.literal("null")
	case '[':
	default:
		return false, r.wrongType("an array")
	}
	if err := r.enter(); err != nil {
		return false, err
	}
	r.pos++
	if r.ws() == ']' {
		r.pos++
		r.depth--
		return false, nil
	}
	for {
		if err := elem(); err != nil {
			return false, err
		}
		switch r.ws() {
		case ',':
			r.pos++
		case ']':
			r.pos++
			r.depth--
			return false, nil
		default:
			return false, r.syntax("expected ',' or ']' in an array")
		}
	}
}

func (r *Reader) enter() error {
	if r.depth++; r.depth > maxDepth {
		return r.syntax("nested too deeply")
	}
	return nil
}

// Offset is the cursor's position in the input.
func (r *Reader) Offset() int { return r.pos }

// StringMap reads an object of strings into m (allocated when nil) and returns it; a null
// gives nil, and a null member the empty string, as encoding/json does.
func (r *Reader) StringMap(m map[string]string) (map[string]string, error) {
	if r.Null() {
		return nil, nil
	}
	if r.ws() == '{' && m == nil {
		m = map[string]string{}
	}
	err := r.Object(func(key []byte) error {
		var v string
		if err := r.StringInto(&v); err != nil {
			return err
		}
		m[string(key)] = v
		return nil
	})
	return m, err
}

// Skip validates and passes over the next value.
func (r *Reader) Skip() error {
	switch c := r.ws(); {
	case c == '{':
		return r.Object(func([]byte) error { return r.Skip() })
	case c == '[':
		_, err := r.Array(r.Skip)
		return err
	case c == '"':
		_, err := r.stringBytes()
		return err
	case c == 't':
		return r.literal("true")
	case c == 'f':
		return r.literal("false")
	case c == 'n':
		return r.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return r.number()
	case r.pos == len(r.buf):
		return r.syntax("unexpected end of input")
	default:
		return r.syntax(fmt.Sprintf("unexpected character %q", c))
	}
}
