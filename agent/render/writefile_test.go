package render

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vault-injector/vault-injector/contract"
)

func writeItem(t *testing.T, dir, tmpl string) (*Item, error) {
	t.Helper()
	items, err := CompileAll([]contract.Secret{{Name: "w", Path: "secret/app", Template: tmpl, File: "w", Perms: 0o400}},
		WriteDir{Dir: dir, Files: []string{"w", contract.VersionFile, "tls/ca.pem"}})
	if err != nil {
		return nil, err
	}
	return items[0], nil
}

// writeToFile writes inside the secrets dir, whole, with its mode; append and newline as in
// consul-template; it prints nothing.
func TestWriteToFile(t *testing.T) {
	dir := t.TempDir()
	uid, gid := strconv.Itoa(os.Getuid()), strconv.Itoa(os.Getgid())
	tmpl := `{{ with secret "secret/app" }}a{{ writeToFile "` + dir + `/extra/user" "" "" "0640" .Data.data.user }}` +
		`{{ writeToFile "` + dir + `/log" "` + uid + `" "` + gid + `" "0600" "append,newline" .Data.data.user }}b{{ end }}`
	it, err := writeItem(t, dir, tmpl)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		out, err := it.Render(testSource())
		if err != nil || string(out) != "ab" {
			t.Fatalf("render = %q, %v", out, err)
		}
	}
	for f, want := range map[string]struct {
		data string
		mode os.FileMode
	}{"extra/user": {"app", 0o640}, "log": {"app\napp\n", 0o600}} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		st, _ := os.Stat(filepath.Join(dir, f))
		if err != nil || string(b) != want.data || st.Mode().Perm() != want.mode {
			t.Errorf("%s: %q (%v) mode %v, want %q mode %v", f, b, err, st.Mode().Perm(), want.data, want.mode)
		}
	}
}

// Refused: at compile for constant arguments (the webhook runs the same check at admission),
// at render for computed ones; each message names the path or value and the fix.
func TestWriteToFileRefused(t *testing.T) {
	dir := t.TempDir()
	for tmpl, want := range map[string]string{
		`{{ writeToFile "/etc/passwd" "" "" "0644" "x" }}`:              `writeToFile path "/etc/passwd" is outside the secrets volume: the agent writes only under ` + dir,
		`{{ writeToFile "` + dir + `/../x" "" "" "0644" "x" }}`:         "outside the secrets volume",
		`{{ writeToFile "extra" "" "" "0644" "x" }}`:                    "outside the secrets volume",
		`{{ writeToFile "` + dir + `/w" "" "" "0644" "x" }}`:            `collides with the secret file "w"`,
		`{{ writeToFile "` + dir + `/tls/key.pem" "" "" "0644" "x" }}`:  `collides with the secret file "tls/ca.pem"`,
		`{{ writeToFile "` + dir + `/..data/x" "" "" "0644" "x" }}`:     "'..' is not allowed",
		`{{ writeToFile "` + dir + `/x" "nginx" "" "0644" "x" }}`:       `writeToFile owner "nginx" is not a number: the agent runs as a non-root UID`,
		`{{ writeToFile "` + dir + `/x" "" "" "rw" "x" }}`:              `writeToFile mode "rw" is invalid`,
		`{{ writeToFile "` + dir + `/x" "" "" "0644" "truncate" "x" }}`: `writeToFile flag "truncate" is unknown`,
	} {
		if _, err := writeItem(t, dir, tmpl); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", tmpl, err, want)
		}
	}
	other := strconv.Itoa(os.Getuid() + 1)
	it, err := writeItem(t, dir, `{{ $o := "`+other+`" }}{{ writeToFile "`+dir+`/x" $o "" "0644" "x" }}`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := it.Render(testSource()); err == nil || !strings.Contains(err.Error(), "the agent runs as a non-root user (owner "+strconv.Itoa(os.Getuid())+")") {
		t.Errorf("another owner: %v", err)
	}
	it, err = writeItem(t, dir, `{{ with secret "secret/app" }}{{ writeToFile (printf "/tmp/%s" .Data.data.user) "" "" "0644" "x" }}{{ end }}`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := it.Render(testSource()); err == nil || !strings.Contains(err.Error(), "a path computed by the template was refused") || strings.Contains(err.Error(), "/tmp/app") {
		t.Errorf("a computed path outside: %v", err)
	}
	if _, err := os.Stat("/tmp/app"); err == nil {
		t.Error("/tmp/app was written")
	}
	// Without a secrets dir (Compile alone) writeToFile fails at render.
	it, err = Compile(contract.Secret{Name: "w", Path: "secret/app", Template: `{{ writeToFile "/x" "" "" "0644" "x" }}`, File: "w", Perms: 0o400})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := it.Render(testSource()); err == nil || !strings.Contains(err.Error(), "writeToFile is not available") {
		t.Errorf("without a dir: %v", err)
	}
}
