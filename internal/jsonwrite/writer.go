// Package jsonwrite writes JSON by hand, byte for byte as encoding/json does with HTML
// escaping off, for the webhook's hot path (the patch, the agent's config, the admission
// response): encoding/json's reflection was the largest cost of an admission response. Callers write members in their Go fields' order, which is
// encoding/json's, and each caller's tests hold its output to encoding/json.
package jsonwrite

import (
	"bytes"
	"strconv"
	"unicode/utf8"
)

// Object writes one JSON object's members in order.
type Object struct {
	b    *bytes.Buffer
	more bool
}

// Open starts an object.
func Open(b *bytes.Buffer) Object { b.WriteByte('{'); return Object{b: b} }

// Close ends the object.
func (o *Object) Close() { o.b.WriteByte('}') }

// Key starts a member named by a field's JSON name, a constant never in need of escaping.
func (o *Object) Key(k string) {
	o.comma()
	o.b.WriteByte('"')
	o.b.WriteString(k)
	o.b.WriteString(`":`)
}

// MapKey starts a member named by a map's key, which may be anything.
func (o *Object) MapKey(k string) {
	o.comma()
	String(o.b, k)
	o.b.WriteByte(':')
}

func (o *Object) comma() {
	if o.more {
		o.b.WriteByte(',')
	}
	o.more = true
}

// Str writes a string member; omitEmpty as the field's omitempty tag says.
func (o *Object) Str(k, v string, omitEmpty bool) {
	if v == "" && omitEmpty {
		return
	}
	o.Key(k)
	String(o.b, v)
}

// Strs writes a []string member with omitempty.
func (o *Object) Strs(k string, v []string) {
	if len(v) == 0 {
		return
	}
	o.Key(k)
	o.b.WriteByte('[')
	for i, s := range v {
		if i > 0 {
			o.b.WriteByte(',')
		}
		String(o.b, s)
	}
	o.b.WriteByte(']')
}

// Int writes a number member; omitEmpty as the field's omitempty tag says.
func (o *Object) Int(k string, v int64, omitEmpty bool) {
	if v == 0 && omitEmpty {
		return
	}
	o.Key(k)
	o.b.WriteString(strconv.FormatInt(v, 10))
}

// Bool writes a bool member with omitempty.
func (o *Object) Bool(k string, v bool) {
	if v {
		o.Key(k)
		o.b.WriteString("true")
	}
}

// BoolPtr writes a *bool member with omitempty.
func (o *Object) BoolPtr(k string, v *bool) {
	if v != nil {
		o.Key(k)
		o.b.WriteString(strconv.FormatBool(*v))
	}
}

// Int64Ptr writes a *int64 member with omitempty.
func (o *Object) Int64Ptr(k string, v *int64) {
	if v != nil {
		o.Key(k)
		o.b.WriteString(strconv.FormatInt(*v, 10))
	}
}

// Int32Ptr writes a *int32 member with omitempty.
func (o *Object) Int32Ptr(k string, v *int32) {
	if v != nil {
		o.Key(k)
		o.b.WriteString(strconv.FormatInt(int64(*v), 10))
	}
}

const hexDigits = "0123456789abcdef"

// plain marks the ASCII bytes written as they are.
var plain = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// String writes s quoted as encoding/json does with HTML escaping off: control
// characters, quote and backslash escaped, invalid UTF-8 as U+FFFD, U+2028 and U+2029 escaped.
func String(b *bytes.Buffer, s string) {
	b.Write(AppendString(b.AvailableBuffer(), s)) // in place when b has room
}

// AppendString is String on a byte slice.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if plain[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
