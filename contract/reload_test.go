package contract

import (
	"strings"
	"testing"
)

func TestValidateReloadURL(t *testing.T) {
	for _, ok := range []string{"http://127.0.0.1:8080/-/reload", "http://localhost:9090/reload", "http://[::1]:80/x?y=1", "http://127.0.0.1/"} {
		if err := ValidateReloadURL(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for bad, want := range map[string]string{
		"https://127.0.0.1:8080/":       "scheme",
		"http://10.0.0.1:8080/":         "loopback",
		"http://app.default.svc/reload": "loopback",
		"http://127.0.0.1:99999/":       "port",
		"http://u:p@127.0.0.1/":         "user info",
		"http://127.0.0.1:80/%zz":       "not a URL",
		"127.0.0.1:8080/reload":         "", // parse error or scheme: refused either way
		"":                              "scheme",
	} {
		err := ValidateReloadURL(bad)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error with %q", bad, err, want)
		}
	}
}

func TestReloadValidate(t *testing.T) {
	for _, tc := range []struct {
		r    Reload
		want string
	}{
		{Reload{HTTP: "http://127.0.0.1:1/"}, ""},
		{Reload{Signal: "SIGHUP", Process: "nginx"}, ""},
		{Reload{Signal: "SIGTERM", Process: "nginx"}, "not a reload signal"},
		{Reload{Signal: "SIGHUP"}, "go together"},
		{Reload{Process: "nginx"}, "go together"},
		{Reload{Signal: "SIGHUP", Process: "/usr/sbin/nginx"}, "process name"},
		{Reload{HTTP: "http://127.0.0.1:1/", Signal: "SIGHUP", Process: "x"}, "exclusive"},
	} {
		err := tc.r.Validate()
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.r, err, tc.want)
		}
	}
}
