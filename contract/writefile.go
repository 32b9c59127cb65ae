package contract

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
)

// WriteToFileFunc is consul-template's `writeToFile "path" "owner" "group" "mode" ["flags"]
// "content"`. The agent offers it for files inside its secrets dir only.
const WriteToFileFunc = "writeToFile"

// WriteToFilePath checks the path writeToFile is given against the agent's secrets dir and
// returns it relative to dir. The message names the path and the fix.
func WriteToFilePath(p, dir string) (string, error) {
	rel, ok := strings.CutPrefix(path.Clean(p), strings.TrimSuffix(dir, "/")+"/")
	if !path.IsAbs(p) || !ok {
		return "", fmt.Errorf("writeToFile path %q is outside the secrets volume: the agent writes only under %s, so use a path such as %s/extra.pem (the app sees it under its volume-path)", p, dir, dir)
	}
	if err := ValidateFilePath(rel); err != nil {
		return "", fmt.Errorf("writeToFile path %q: %w", p, err)
	}
	if strings.HasPrefix(rel, "..") {
		return "", fmt.Errorf("writeToFile path %q: names starting with .. belong to the agent's atomic writes: choose another name", p)
	}
	return rel, nil
}

// ParseWriteToFileMode parses writeToFile's mode argument, an octal string such as "0640".
func ParseWriteToFileMode(m string) (FileMode, error) {
	v, err := strconv.ParseUint(m, 8, 32)
	if err != nil || v > 0o777 {
		return 0, fmt.Errorf("writeToFile mode %q is invalid: use an octal mode such as \"0640\"", m)
	}
	return FileMode(v), nil
}

// CheckWriteToFile refuses, before the pod exists, what writeToFile calls with constant
// arguments would be refused for at render: a path outside dir (or inside a secret's own file,
// one of others), an owner or group that is not a number (the agent's image has no user
// database, and it runs as a non-root UID), an invalid mode or an unknown flag. Computed
// arguments are checked by the agent at render.
func CheckWriteToFile(t *template.Template, dir string, files []string) error {
	var err error
	WalkTemplates(t, func(n parse.Node) {
		c, ok := n.(*parse.CommandNode)
		if !ok || err != nil || len(c.Args) == 0 {
			return
		}
		if id, ok := c.Args[0].(*parse.IdentifierNode); !ok || id.Ident != WriteToFileFunc {
			return
		}
		err = checkWriteCall(c.Args[1:], dir, files)
	})
	return err
}

func checkWriteCall(args []parse.Node, dir string, files []string) error {
	str := func(i int) (string, bool) {
		if i >= len(args) {
			return "", false
		}
		s, ok := args[i].(*parse.StringNode)
		if !ok {
			return "", false
		}
		return s.Text, true
	}
	if p, ok := str(0); ok {
		if _, err := WriteToFileTarget(p, dir, files); err != nil {
			return err
		}
	}
	for i, what := range []string{"owner", "group"} {
		if v, ok := str(1 + i); ok && v != "" {
			if _, err := strconv.Atoi(v); err != nil {
				return fmt.Errorf("writeToFile %s %q is not a number: the agent runs as a non-root UID with no user database; leave it empty (\"\") or give the agent's numeric ID", what, v)
			}
		}
	}
	if m, ok := str(3); ok {
		if _, err := ParseWriteToFileMode(m); err != nil {
			return err
		}
	}
	if len(args) == 6 {
		if f, ok := str(4); ok {
			if err := CheckWriteToFileFlags(f); err != nil {
				return err
			}
		}
	}
	return nil
}

// WriteToFileTarget is WriteToFilePath plus the secrets' files: a written file may not be one
// of them or share a top-level directory with one (those are links into the agent's atomic
// generations), nor be the version file.
func WriteToFileTarget(p, dir string, files []string) (string, error) {
	rel, err := WriteToFilePath(p, dir)
	if err != nil {
		return "", err
	}
	top := strings.SplitN(rel, "/", 2)[0]
	for _, f := range files {
		if FilesCollide(top, strings.SplitN(f, "/", 2)[0]) {
			return "", fmt.Errorf("writeToFile path %q collides with the secret file %q: write to a name of its own", p, f)
		}
	}
	return rel, nil
}

// CheckWriteToFileFlags accepts consul-template's flags: "", "append", "newline" or both.
func CheckWriteToFileFlags(f string) error {
	for _, w := range strings.FieldsFunc(f, func(r rune) bool { return r == ',' || r == ' ' }) {
		if w != "append" && w != "newline" {
			return fmt.Errorf("writeToFile flag %q is unknown: use \"append\", \"newline\" or \"append,newline\"", w)
		}
	}
	return nil
}
