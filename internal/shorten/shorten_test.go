package shorten

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"short", "short"},
		{"0123456789", "0123456789"},
		{"0123456789x", "0123456789…"},
		{"01234567é9x", "01234567é…"},                 // é ends at the cut: kept
		{"012345678éx", "012345678…"},                 // é would be split: cut before it
		{"0123456€xyz", "0123456€…"},                  // a 3-byte character ending at the cut
		{"01234567€yz", "01234567…"},                  // ... and one split by it
		{"012345678😀", "012345678…"},                  // a 4-byte one
		{"012345678\xff\xff", "012345678\xff…"},       // invalid bytes are cut as bytes
		{"0123456789\x80\x80\x80\x80", "0123456789…"}, // a stray continuation byte after the cut
		{"\xe2\x82\xe2\x82\xe2\x82\xe2\x82\xe2\x82xx", "\xe2\x82\xe2\x82\xe2\x82\xe2\x82\xe2\x82…"}, // truncated sequences: bytes
	} {
		if got := String(tc.in, 10); got != tc.want {
			t.Errorf("String(%q, 10) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestStringKeepsUTF8: at every cut of strings of 1- to 4-byte characters, the result is valid
// UTF-8, a prefix of the input plus "…", and loses less than one character.
func TestStringKeepsUTF8(t *testing.T) {
	for _, c := range []string{"a", "é", "€", "😀"} {
		v := strings.Repeat(c, 40)
		for max := 0; max < len(v); max++ {
			got := String(v, max)
			kept, ok := strings.CutSuffix(got, "…")
			if !ok || !utf8.ValidString(got) || !strings.HasPrefix(v, kept) || len(kept) > max || len(kept) <= max-len(c) {
				t.Fatalf("String(40×%q, %d) = %q", c, max, got)
			}
		}
	}
}
