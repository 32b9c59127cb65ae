package jsonread

import (
	"encoding/binary"
	"errors"
	"unicode/utf16"
	"unicode/utf8"
)

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
