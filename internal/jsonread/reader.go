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
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
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

// StringInto reads a string into *dst; a null leaves *dst unchanged.
func (r *Reader) StringInto(dst *string) error {
	switch r.ws() {
	case '"':
		b, err := r.stringBytes()
		if err != nil {
			return err
		}
		*dst = string(b)
		return nil
	case 'n':
		return r.literal("null")
	}
	return r.wrongType("a string")
}

// BoolInto reads a boolean into *dst; a null leaves *dst unchanged.
func (r *Reader) BoolInto(dst *bool) error {
	switch r.ws() {
	case 't':
		*dst = true
		return r.literal("true")
	case 'f':
		*dst = false
		return r.literal("false")
	case 'n':
		return r.literal("null")
	}
	return r.wrongType("a boolean")
}

// Int64 reads an integer (no fraction or exponent, as encoding/json wants for an int64);
// isNull reports a null instead.
func (r *Reader) Int64() (v int64, isNull bool, err error) {
	switch c := r.ws(); {
	case c == 'n':
		return 0, true, r.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		start := r.pos
		if err := r.number(); err != nil {
			return 0, false, err
		}
		v, err := strconv.ParseInt(string(r.buf[start:r.pos]), 10, 64)
		if err != nil {
			return 0, false, &TypeError{Want: "an int64", Offset: start}
		}
		return v, false, nil
	}
	return 0, false, r.wrongType("an int64")
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

// Raw skips the next value and returns its bytes (valid as long as the input is).
func (r *Reader) Raw() ([]byte, error) {
	r.ws()
	start := r.pos
	if err := r.Skip(); err != nil {
		return nil, err
	}
	return r.buf[start:r.pos], nil
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

func (r *Reader) literal(lit string) error {
	if len(r.buf)-r.pos < len(lit) || string(r.buf[r.pos:r.pos+len(lit)]) != lit {
		return r.syntax("invalid literal, want " + lit)
	}
	r.pos += len(lit)
	return nil
}

// number passes over -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (r *Reader) number() error {
	if r.peek() == '-' {
		r.pos++
	}
	switch c := r.peek(); {
	case c == '0':
		r.pos++
	case c >= '1' && c <= '9':
		r.digits()
	default:
		return r.syntax("invalid number")
	}
	if r.peek() == '.' {
		r.pos++
		if !r.digits() {
			return r.syntax("invalid number: no digit after '.'")
		}
	}
	if c := r.peek(); c == 'e' || c == 'E' {
		r.pos++
		if c := r.peek(); c == '+' || c == '-' {
			r.pos++
		}
		if !r.digits() {
			return r.syntax("invalid number: no digit in the exponent")
		}
	}
	return nil
}

func (r *Reader) peek() byte {
	if r.pos < len(r.buf) {
		return r.buf[r.pos]
	}
	return 0
}

func (r *Reader) digits() bool {
	start := r.pos
	for r.pos < len(r.buf) && r.buf[r.pos] >= '0' && r.buf[r.pos] <= '9' {
		r.pos++
	}
	return r.pos > start
}

var errEscape = errors.New("invalid escape")

// stringBytes reads the string at the cursor (which is at its opening quote) and returns its
// decoded bytes: a slice of the input when there is nothing to decode, else a new buffer.
func (r *Reader) stringBytes() ([]byte, error) {
	b, start := r.buf, r.pos+1
	i := start // a local index: the loop is most of the reader's time
	for i+8 <= len(b) && plainWord(binary.LittleEndian.Uint64(b[i:])) {
		i += 8 // long strings (templates) go 8 bytes at a time
	}
	for i < len(b) && plain[b[i]] {
		i++
	}
	if i < len(b) && b[i] == '"' {
		r.pos = i + 1
		return b[start:i], nil
	}
	r.pos = i
	return r.slowString(start)
}

// plain marks the bytes a string holds as they are: printable ASCII but '"' and '\\'.
var plain = func() (t [256]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// plainWord reports whether all 8 bytes of w are plain: none is below ' ', '"', '\\' or
// above ASCII (the classic "has a zero byte" bit tricks, exact for these values).
func plainWord(w uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	hasZero := func(v uint64) uint64 { return (v - ones) & ^v & highs }
	below := (w - ones*' ') & ^w & highs // a byte < 0x20 (exact for thresholds up to 0x80)
	return (below | hasZero(w^(ones*'"')) | hasZero(w^(ones*'\\')) | w&highs) == 0
}

// slowString decodes a string with escapes or non-ASCII bytes, from start (after the quote).
func (r *Reader) slowString(start int) ([]byte, error) {
	out := make([]byte, 0, r.pos-start+16)
	out = append(out, r.buf[start:r.pos]...)
	for r.pos < len(r.buf) {
		c := r.buf[r.pos]
		switch {
		case c == '"':
			r.pos++
			return out, nil
		case c < ' ':
			return nil, r.syntax("control character in a string")
		case c < utf8.RuneSelf && c != '\\':
			out = append(out, c)
			r.pos++
		case c >= utf8.RuneSelf:
			rn, size := utf8.DecodeRune(r.buf[r.pos:])
			if rn == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, r.buf[r.pos:r.pos+size]...)
			}
			r.pos += size
		default: // backslash
			var err error
			if out, err = r.escape(out); err != nil {
				return nil, r.syntax(err.Error())
			}
		}
	}
	return nil, r.syntax("unterminated string")
}

// escape decodes the escape sequence at the cursor onto out.
func (r *Reader) escape(out []byte) ([]byte, error) {
	if r.pos+1 >= len(r.buf) {
		return nil, errEscape
	}
	c := r.buf[r.pos+1]
	r.pos += 2
	switch c {
	case '"', '\\', '/':
		return append(out, c), nil
	case 'b':
		return append(out, '\b'), nil
	case 'f':
		return append(out, '\f'), nil
	case 'n':
		return append(out, '\n'), nil
	case 'r':
		return append(out, '\r'), nil
	case 't':
		return append(out, '\t'), nil
	case 'u':
	default:
		return nil, errEscape
	}
	rn, ok := hex4(r.buf[r.pos:])
	if !ok {
		return nil, errEscape
	}
	r.pos += 4
	if utf16.IsSurrogate(rn) {
		// A surrogate pair is two escapes; anything else stands for U+FFFD.
		rest := r.buf[r.pos:]
		if len(rest) >= 6 && rest[0] == '\\' && rest[1] == 'u' {
			if low, ok := hex4(rest[2:]); ok {
				if pair := utf16.DecodeRune(rn, low); pair != utf8.RuneError {
					r.pos += 6
					return utf8.AppendRune(out, pair), nil
				}
			}
		}
		rn = utf8.RuneError
	}
	return utf8.AppendRune(out, rn), nil
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var v rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		v = v<<4 | rune(c)
	}
	return v, true
}
