package contract

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxFilePathBytes is the kernel's limit on one name, applied to the whole relative path.
const MaxFilePathBytes = 255

// ValidateFilePath accepts a relative, clean path below the secrets dir, such as "db.json" or
// "tls/ca.pem". It is the one check of a file path: the webhook refuses at admission exactly
// what the agent would refuse when it starts. It refuses absolute paths, ".", "..", names
// starting with ".." that would collide with the atomic writer's own entries, and characters
// that break tools or make a name read as another (see checkFileRunes).
func ValidateFilePath(p string) error {
	switch {
	case p == "":
		return errors.New("file path is empty")
	case len(p) > MaxFilePathBytes:
		return fmt.Errorf("file path is %d bytes long: use at most %d bytes (UTF-8)", len(p), MaxFilePathBytes)
	case !utf8.ValidString(p):
		return errors.New("file path is not valid UTF-8: use plain characters such as letters, digits, '-', '_', '.' and '/'")
	}
	if err := checkFileRunes(p); err != nil {
		return err
	}
	switch {
	case p == ".":
		return errors.New(`file path "." is the secrets directory itself: name a file, such as db.json`)
	case path.IsAbs(p):
		return fmt.Errorf("file path %q is absolute: use a path relative to the secrets volume", p)
	case path.Clean(p) != p || strings.Contains(p, "\\"):
		return fmt.Errorf("file path %q is not clean: remove '.', '..', '\\' and repeated or trailing '/'", p)
	case FilesCollide(p, VersionFile):
		return fmt.Errorf("file path %q is the agent's version file (%s): choose another name", p, VersionFile)
	}
	for _, part := range strings.Split(p, "/") {
		if strings.HasPrefix(part, "..") {
			return fmt.Errorf("file path %q contains %q: '..' is not allowed", p, part)
		}
	}
	return nil
}

// checkFileRunes refuses control characters (NUL, newline ...) that break tools and logs, and
// every character that is not seen where it stands: Unicode format characters (zero-width
// spaces and joiners, the byte-order mark, soft hyphen, bidirectional-text controls) and the
// line and paragraph separators. Each makes a name display as another one.
func checkFileRunes(p string) error {
	for _, r := range p {
		switch {
		case unicode.IsControl(r):
			return fmt.Errorf("file path contains the control character %U: use letters, digits, '-', '_', '.' and '/'", r)
		case unicode.Is(unicode.Bidi_Control, r):
			return fmt.Errorf("file path contains the bidirectional-text control %U, which makes it display as another name: remove it", r)
		case unicode.Is(unicode.Cf, r), unicode.Is(unicode.Zl, r), unicode.Is(unicode.Zp, r):
			return fmt.Errorf("file path contains the invisible character %U, which makes it display as another name: remove it", r)
		}
	}
	return nil
}

// MaxTemplateFileBytes caps the template file the agent reads at start: a template is text of
// a few kilobytes, and the agent must not follow a huge or endless file into its memory limit.
const MaxTemplateFileBytes = 1 << 20

// ValidateTemplateFile accepts the path of a secret's template file inside the agent
// container: absolute, clean, of visible characters (the file path rules that apply to an
// absolute path), such as /etc/app/db.tmpl.
func ValidateTemplateFile(p string) error {
	switch {
	case p == "":
		return errors.New("template file path is empty")
	case len(p) > 4096:
		return fmt.Errorf("template file path is %d bytes long: use at most 4096 bytes", len(p))
	case !utf8.ValidString(p):
		return errors.New("template file path is not valid UTF-8")
	}
	if err := checkFileRunes(p); err != nil {
		return fmt.Errorf("template %w", err)
	}
	switch {
	case !path.IsAbs(p):
		return fmt.Errorf("template file path %q is not absolute: use the path where the agent sees the file, such as /etc/app/db.tmpl", p)
	case path.Clean(p) != p || strings.Contains(p, "\\"):
		return fmt.Errorf("template file path %q is not clean: remove '.', '..', '\\' and repeated or trailing '/'", p)
	}
	return nil
}
