package jsonread

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

var seeds = []string{
	`{}`, `[]`, `null`, `true`, `false`, `0`, `-0.5e+10`, `"a"`, ` {"a" : [1, 2.5, "x", null, {"b": false}]} `,
	`"\u00e9\ud83d\ude00\n\"\\\/\b\f\r\t"`, `"\ud800"`, `-0`, `1e2`, `1.0`, `9223372036854775807`, `9223372036854775808`, `-9223372036854775808`, `"\ud800\u0041"`, `"\udc00\ud800"`, "\"\xff\xfe\"",
	`{"a":"1","b":null,"a":"2"}`, `{"a":1}`, `01`, `1.`, `1e`, `-`, `"\x"`, "\"\x01\"", `{"a" 1}`, `[1,]`,
	`{"a":1,}`, `[1 2]`, `tru`, `nul`, `"abc`, `{"a":"b"} x`, `{"k\u0065y":"v"}`, strings.Repeat("[", 10001),
}

// FuzzReader holds the reader to encoding/json: the same inputs are valid, and strings,
// integers and string maps decode to the same values.
func FuzzReader(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := New(b)
		err := r.Skip()
		if err == nil {
			err = r.End()
		}
		if valid := json.Valid(b); valid != (err == nil) {
			t.Fatalf("json.Valid=%v, reader: %v", valid, err)
		}
		want, got := "unchanged", "unchanged" // null leaves a string as it was
		wantErr := json.Unmarshal(b, &want)
		r = New(b)
		gotErr := r.StringInto(&got)
		if gotErr == nil {
			gotErr = r.End()
		}
		if (gotErr == nil) != (wantErr == nil) || gotErr == nil && got != want {
			t.Fatalf("string: reader %q, %v; encoding/json %q, %v", got, gotErr, want, wantErr)
		}
		wantInt, gotInt := int64(7), int64(7) // null leaves an int64 as it was
		wantErr = json.Unmarshal(b, &wantInt)
		r = New(b)
		v, isNull, gotErr := r.Int64()
		if gotErr == nil {
			gotErr = r.End()
		}
		if !isNull {
			gotInt = v
		}
		if (gotErr == nil) != (wantErr == nil) || gotErr == nil && gotInt != wantInt {
			t.Fatalf("int64: reader %d, %v; encoding/json %d, %v", gotInt, gotErr, wantInt, wantErr)
		}
		var wantMap map[string]string
		wantErr = json.Unmarshal(b, &wantMap)
		r = New(b)
		gotMap, gotErr := r.StringMap(nil)
		if gotErr == nil {
			gotErr = r.End()
		}
		if (gotErr == nil) != (wantErr == nil) || gotErr == nil && !reflect.DeepEqual(gotMap, wantMap) {
			t.Fatalf("map: reader %v, %v; encoding/json %v, %v", gotMap, gotErr, wantMap, wantErr)
		}
	})
}

func TestReaderErrors(t *testing.T) {
	for _, tc := range []struct {
		in     string
		read   func(*Reader) error
		syntax bool // a *SyntaxError, else a *TypeError
	}{
		{`{"a":1} x`, func(r *Reader) error { return errors.Join(r.Skip(), r.End()) }, true},
		{`5`, func(r *Reader) error { var s string; return r.StringInto(&s) }, false},
		{`"s"`, func(r *Reader) error { var b bool; return r.BoolInto(&b) }, false},
		{`[1]`, func(r *Reader) error { return r.Object(func([]byte) error { return r.Skip() }) }, false},
		{`{}`, func(r *Reader) error { _, err := r.Array(r.Skip); return err }, false},
		{strings.Repeat("[", 10001) + strings.Repeat("]", 10001), func(r *Reader) error { return r.Skip() }, true},
	} {
		err := tc.read(New([]byte(tc.in)))
		var se *SyntaxError
		var te *TypeError
		if tc.syntax && !errors.As(err, &se) || !tc.syntax && !errors.As(err, &te) {
			t.Errorf("%.20q: got %v (%T), want syntax error %v", tc.in, err, err, tc.syntax)
		}
	}
}

// Raw skips the next value and returns its bytes: the span Skip passes over. Only this test
// needs it, so it lives here.
func (r *Reader) Raw() ([]byte, error) {
	r.ws()
	start := r.pos
	if err := r.Skip(); err != nil {
		return nil, err
	}
	return r.buf[start:r.pos], nil
}

func TestRawAndNull(t *testing.T) {
	r := New([]byte(` { "a" : [1, {"b": "c"}] , "n": null, "t": true } `))
	var raw []byte
	var null, b bool
	err := r.Object(func(key []byte) (err error) {
		switch string(key) {
		case "a":
			raw, err = r.Raw()
		case "n":
			null = r.Null()
		case "t":
			err = r.BoolInto(&b)
		}
		return err
	})
	if err != nil || r.End() != nil {
		t.Fatal(err)
	}
	if string(raw) != `[1, {"b": "c"}]` || !null || !b {
		t.Fatalf("raw %q, null %v, bool %v", raw, null, b)
	}
}

// TestPlainWord holds the 8-byte check to the byte table: every byte value at every position
// among plain bytes, and random words.
func TestPlainWord(t *testing.T) {
	perByte := func(b []byte) bool {
		for _, c := range b {
			if !plain[c] {
				return false
			}
		}
		return true
	}
	check := func(b []byte) {
		if got, want := plainWord(binary.LittleEndian.Uint64(b)), perByte(b); got != want {
			t.Fatalf("plainWord(%q) = %v, want %v", b, got, want)
		}
	}
	for c := range 256 {
		for pos := range 8 {
			b := []byte("aaaaaaaa")
			b[pos] = byte(c)
			check(b)
			b = []byte{0x7f, ' ', '~', '!', '#', '[', ']', 0x7f}
			b[pos] = byte(c)
			check(b)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], r.Uint64())
		for i := range b { // mostly plain, so both answers come up
			if r.IntN(4) > 0 {
				b[i] = byte(' ' + r.IntN(95))
			}
		}
		check(b[:])
	}
}
