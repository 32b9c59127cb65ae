package jsonread

import "strconv"

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
