package jsonwrite

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// nasty holds each kind of character encoding/json escapes, and invalid UTF-8.
const nasty = "a\"\\\b\f\n\r\t\x01\x1f<>&\u2028\u2029é\xff\x7f"

func reference(t *testing.T, v any) string {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func checkString(t *testing.T, s string) {
	t.Helper()
	var b bytes.Buffer
	String(&b, s)
	if want := reference(t, s); b.String() != want {
		t.Errorf("String(%q) = %s, encoding/json: %s", s, b.String(), want)
	}
}

// FuzzString holds String to encoding/json on any bytes.
func FuzzString(f *testing.F) {
	f.Add(nasty)
	f.Add(strings.Repeat("\xe2\x80", 3) + "\xf0\x9f\x98\x80")
	f.Fuzz(checkString)
}

// TestObject writes every kind of member, set and empty, and holds the object to
// encoding/json on a struct with the same fields and tags.
func TestObject(t *testing.T) {
	type all struct {
		S     string   `json:"s"`
		SO    string   `json:"so,omitempty"`
		L     []string `json:"l,omitempty"`
		I     int64    `json:"i"`
		IO    int64    `json:"io,omitempty"`
		B     bool     `json:"b,omitempty"`
		BP    *bool    `json:"bp,omitempty"`
		I64   *int64   `json:"i64,omitempty"`
		I32   *int32   `json:"i32,omitempty"`
		M     map[string]string
		Inner struct{} `json:"inner"`
	}
	write := func(v all) string {
		var b bytes.Buffer
		o := Open(&b)
		o.Str("s", v.S, false)
		o.Str("so", v.SO, true)
		o.Strs("l", v.L)
		o.Int("i", v.I, false)
		o.Int("io", v.IO, true)
		o.Bool("b", v.B)
		o.BoolPtr("bp", v.BP)
		o.Int64Ptr("i64", v.I64)
		o.Int32Ptr("i32", v.I32)
		o.Key("M")
		m := Open(&b)
		for k, val := range v.M { // one key at most: no order to follow
			m.MapKey(k)
			String(&b, val)
		}
		m.Close()
		o.Key("inner")
		in := Open(&b)
		in.Close()
		o.Close()
		return b.String()
	}
	f, i64, i32 := false, int64(-5), int32(7)
	for _, v := range []all{
		{M: map[string]string{}},
		{S: nasty, SO: nasty, L: []string{nasty, ""}, I: -1, IO: 3, B: true, BP: &f, I64: &i64, I32: &i32, M: map[string]string{nasty: nasty}},
		{L: []string{}, M: map[string]string{"": ""}},
	} {
		if got, want := write(v), reference(t, v); got != want {
			t.Errorf("hand-written\n%s\nencoding/json\n%s", got, want)
		}
	}
}
