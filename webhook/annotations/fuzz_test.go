package annotations

import (
	"errors"
	"testing"

	"github.com/vault-injector/vault-injector/contract"
)

func errorsAs(err error, target any) bool { return errors.As(err, target) }

// FuzzParse feeds arbitrary keys and values: Parse must never panic, and whatever it accepts
// must satisfy the contract's own rules.
func FuzzParse(f *testing.F) {
	f.Add("secret-db", "secret/data/db", "format-db", "raw:password")
	f.Add("template-x", "{{ .Data.data.k }}", "secret-x", "kv/x")
	f.Add("file-db", "../../etc", "perms-db", "0777")
	f.Add("refresh", "1h", "containers", "a,b")
	f.Add("template-x", "{{if .}}{{if (((.)))}}{{end}}{{end}}", "file-x", "a\u202eb\x00")
	f.Add("volume-path", "/var/run/secrets", "agent-memory-request", "1Gi")
	f.Add("template-file-x", "/etc/app/x.tmpl", "template-x", "static")
	f.Add("template-file-x", "{{ . }}", "secret-file-x", "kv/x")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		opts, _, err := Parse(map[string]string{
			contract.AnnotationInject: "true", contract.Prefix + k1: v1, contract.Prefix + k2: v2,
		})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || len(e.Problems) == 0 {
				t.Fatalf("error is not a non-empty *Error: %v", err)
			}
			return
		}
		if opts.VolumePath != "" && checkSystemPath(opts.VolumePath) != nil {
			t.Fatalf("accepted a system volume path: %q", opts.VolumePath)
		}
		for _, s := range opts.Secrets {
			if contract.ValidateSecretName(s.Name) != nil || contract.ValidateFilePath(s.File) != nil ||
				len(s.Template) > MaxTemplateBytes || contract.TemplateDepth(s.Template, "", "") > MaxTemplateDepth ||
				contract.ValidateFormat(s.Format) != nil || s.Perms == 0 || s.Perms > 0o777 ||
				s.TemplateFile != "" && (s.Template != "" || contract.ValidateTemplateFile(s.TemplateFile) != nil) {
				t.Fatalf("accepted an invalid secret: %+v", s)
			}
		}
	})
}
