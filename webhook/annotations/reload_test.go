package annotations

import (
	"testing"

	"github.com/vault-injector/vault-injector/contract"
)

// TestReloadValidators: each reload annotation alone or with its partner, accepted and refused;
// refusals name the annotation, echo the value and say what to use.
func TestReloadValidators(t *testing.T) {
	tests := []struct {
		kv      []string
		key     string // the annotation the refusal must name
		wantErr string
	}{
		{[]string{"reload-http", "http://127.0.0.1:9090/-/reload"}, "reload-http", ""},
		{[]string{"reload-http", "http://localhost:8080/reload"}, "reload-http", ""},
		{[]string{"reload-http", "http://[::1]:8080/reload"}, "reload-http", ""},
		{[]string{"reload-http", "https://127.0.0.1:8443/reload"}, "reload-http", `scheme "https" is not allowed`},
		{[]string{"reload-http", "http://10.1.2.3:8080/reload"}, "reload-http", "not the pod's loopback"},
		{[]string{"reload-http", "http://vault.example.com/reload"}, "reload-http", "not the pod's loopback"},
		{[]string{"reload-http", "http://127.0.0.1:0/reload"}, "reload-http", "port"},
		{[]string{"reload-http", "http://127.0.0.1:8080/%zz"}, "reload-http", "not a URL"},
		{[]string{"reload-http", "127.0.0.1:8080"}, "reload-http", "use http://127.0.0.1:PORT/PATH"},
		{[]string{"reload-signal", "SIGHUP", "reload-process", "nginx"}, "reload-signal", ""},
		{[]string{"reload-signal", "SIGUSR1", "reload-process", "httpd"}, "reload-signal", ""},
		{[]string{"reload-signal", "SIGUSR2", "reload-process", "my-app"}, "reload-signal", ""},
		{[]string{"reload-signal", "SIGTERM", "reload-process", "nginx"}, "reload-signal", "not a reload signal"},
		{[]string{"reload-signal", "HUP", "reload-process", "nginx"}, "reload-signal", "SIGHUP, SIGUSR1, SIGUSR2"},
		{[]string{"reload-signal", "sighup", "reload-process", "nginx"}, "reload-signal", "not a reload signal"},
		{[]string{"reload-signal", "SIGHUP"}, "reload-signal", "needs " + contract.AnnotationReloadProcess},
		{[]string{"reload-process", "nginx"}, "reload-process", "needs " + contract.AnnotationReloadSignal},
		{[]string{"reload-signal", "SIGHUP", "reload-process", "/usr/sbin/nginx"}, "reload-process", "executable's file name"},
		{[]string{"reload-signal", "SIGHUP", "reload-process", "my app"}, "reload-process", "executable's file name"},
		{[]string{"reload-signal", "SIGHUP", "reload-process", "nginx", "reload-http", "http://127.0.0.1:1/"}, "reload-http", "exclusive"},
	}
	for _, tt := range tests {
		t.Run(tt.key+"/"+tt.wantErr, func(t *testing.T) {
			t.Parallel()
			a := withInject(append([]string{"secret-db", "secret/db"}, tt.kv...)...)
			o, _, err := Parse(a)
			value := a[contract.Prefix+tt.key]
			checkErr(t, err, tt.wantErr, contract.Prefix+tt.key, value)
			if err == nil && (o.Reload.HTTP != a[contract.AnnotationReloadHTTP] || o.Reload.Signal != a[contract.AnnotationReloadSignal] ||
				o.Reload.Process != a[contract.AnnotationReloadProcess]) {
				t.Errorf("parsed %+v from %v", o.Reload, tt.kv)
			}
		})
	}
}

// A secret file named like the agent's version file is refused.
func TestVersionFileName(t *testing.T) {
	_, _, err := Parse(withInject("secret-db", "secret/db", "file-db", contract.VersionFile))
	checkErr(t, err, "version file", contract.AnnotationFilePrefix+"db", contract.VersionFile)
}
