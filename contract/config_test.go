package contract

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"text/template"
	"time"
)

func validConfig() Config {
	return Config{
		Version: ConfigVersion, Auth: Auth{Path: DefaultAuthPath, Role: "app", TokenFile: TokenFile},
		SecretsDir: AgentSecretsDir, Refresh: Duration{DefaultRefresh}, InitTimeout: Duration{DefaultInitTimeout},
		Backoff: Backoff{Min: Duration{DefaultBackoffMin}, Max: Duration{DefaultBackoffMax}},
		Secrets: []Secret{{Name: "db", Path: "secret/db", Format: FormatEnv, File: "db.env", Perms: DefaultPerms}},
	}
}

func TestConfigRoundTrip(t *testing.T) {
	c := validConfig()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"refresh":"5m0s"`, `"perms":"0400"`, `"version":"v1"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON %s lacks %s", b, want)
		}
	}
	back, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if back.Refresh.Duration != 5*time.Minute || back.Secrets[0] != c.Secrets[0] {
		t.Errorf("round trip changed the config: %+v", back)
	}
}

func TestConfigValidateReportsEverything(t *testing.T) {
	c := validConfig()
	c.Version, c.Auth.Role, c.SecretsDir, c.Refresh = "v0", "", "", Duration{}
	c.Backoff.Max = Duration{time.Millisecond}
	c.Secrets = append(c.Secrets,
		Secret{Name: "db", Path: "", Format: "xml", File: "../x", Perms: 0o1777},
		Secret{Name: "tls", Path: "pki/x", Format: FormatJSON, File: "db.env/ca.pem", Perms: DefaultPerms})
	err := c.Validate()
	for _, want := range []string{"version \"v0\"", "auth.role", "secretsDir", "refresh and initTimeout", "backoff.min",
		`secret "db" is listed twice`, `"db": path "" must be a Vault path`, `format "xml"`, `'..' is not allowed`, "perms 1777",
		`file "db.env/ca.pem" collides with file "db.env"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v; want it to mention %q", err, want)
		}
	}
}

func TestParseRejectsBadJSON(t *testing.T) {
	for _, in := range []string{`{`, `{"refresh":5}`, `{"secrets":[{"perms":"rw"}]}`, `{"refresh":"soon"}`} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("Parse(%s) accepted", in)
		}
	}
}

func TestFilesCollide(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{{"a", "a", true}, {"tls", "tls/ca.pem", true}, {"tls/ca.pem", "tls", true}, {"tls", "tls.pem", false}, {"a/b", "a/c", false}} {
		if got := FilesCollide(tc.a, tc.b); got != tc.want {
			t.Errorf("FilesCollide(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}

func TestLimitsDefaultAndValidate(t *testing.T) {
	c := validConfig()
	if c.SecretBytesLimit() != DefaultMaxSecretBytes || c.RenderBudget() != DefaultRenderTimeout {
		t.Errorf("defaults: %d bytes, %s", c.SecretBytesLimit(), c.RenderBudget())
	}
	b, _ := json.Marshal(c)
	if strings.Contains(string(b), "maxSecretBytes") || strings.Contains(string(b), "renderTimeout") {
		t.Errorf("unset limits are written out (the webhook's goldens would change): %s", b)
	}
	c.MaxSecretBytes, c.RenderTimeout = MaxMaxSecretBytes+1, Duration{-time.Second}
	err := c.Validate()
	for _, want := range []string{"maxSecretBytes", "renderTimeout"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v; want it to mention %q", err, want)
		}
	}
	back, err := Parse([]byte(strings.Replace(string(b), `"version"`, `"maxSecretBytes":2048,"renderTimeout":"3s","version"`, 1)))
	if err != nil || back.SecretBytesLimit() != 2048 || back.RenderBudget() != 3*time.Second {
		t.Errorf("parsed limits: %+v, %v", back, err)
	}
}

// TestSecretNameAndModeByHand holds the hand-written checks to what they replaced: the regexp
// ^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$ and fmt's %04o.
func TestSecretNameAndModeByHand(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)
	names := []string{"", ".", "..", "a", "-a", "_a", "a.b-c_d", "é", "a b", "a/b", strings.Repeat("a", 63), strings.Repeat("a", 64), "A9", "9", "a\n"}
	for c := range 256 {
		names = append(names, string([]byte{'a', byte(c)}), string([]byte{byte(c)}))
	}
	for _, n := range names {
		if got, want := ValidateSecretName(n) == nil, re.MatchString(n); got != want {
			t.Errorf("ValidateSecretName(%q) accepts: %v, the regexp: %v", n, got, want)
		}
	}
	for _, m := range []FileMode{0, 1, 0o7, 0o10, 0o400, 0o777, 0o1777, 0o7777, 0o17777, 1 << 31} {
		if got, want := m.String(), fmt.Sprintf("%04o", uint32(m)); got != want {
			t.Errorf("FileMode(%o).String() = %q, want %q", uint32(m), got, want)
		}
	}
}

func TestVersionFileReserved(t *testing.T) {
	for _, p := range []string{".version", ".version/x"} {
		if err := ValidateFilePath(p); err == nil || !strings.Contains(err.Error(), "version file") {
			t.Errorf("%s: %v", p, err)
		}
	}
	if err := ValidateFilePath(".versions"); err != nil {
		t.Errorf(".versions: %v", err)
	}
}

func TestConfigTokenSink(t *testing.T) {
	c := validConfig()
	c.TokenSink = TokenSinkName
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
	c.Secrets = append(c.Secrets, Secret{Name: "token", Path: "secret/t", Format: FormatJSON, File: "token", Perms: DefaultPerms})
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `secret "token": file "token" collides with the token file "token"`) {
		t.Errorf("Validate() = %v; want the collision with the token file", err)
	}
	c = validConfig()
	c.TokenSink = "../token"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "tokenSink:") {
		t.Errorf("Validate() = %v; want tokenSink refused", err)
	}
}

func TestConfigPathOptionalWithTemplate(t *testing.T) {
	c := validConfig()
	c.Secrets = append(c.Secrets, Secret{Name: "static", Template: "text", File: "static", Perms: DefaultPerms})
	if err := c.Validate(); err != nil {
		t.Errorf("a template without a path: %v", err)
	}
	c.Secrets[1].Template = ""
	c.Secrets[1].Format = FormatJSON
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `"static": path ""`) {
		t.Errorf("a format without a path: %v", err)
	}
}

func TestConfigTemplateFile(t *testing.T) {
	c := validConfig()
	c.Secrets = append(c.Secrets, Secret{Name: "tf", TemplateFile: "/etc/app/db.tmpl", File: "tf", Perms: DefaultPerms,
		LeftDelim: "[[", RightDelim: "]]", Compat: CompatVaultAgent})
	if err := c.Validate(); err != nil {
		t.Errorf("a template file without a path: %v", err)
	}
	for _, bad := range []struct {
		mod  func(*Secret)
		want string
	}{
		{func(s *Secret) { s.Template = "x" }, `secret "tf": template and templateFile are both set`},
		{func(s *Secret) { s.TemplateFile = "etc/db.tmpl" }, "not absolute"},
		{func(s *Secret) { s.TemplateFile = "/etc/../db.tmpl" }, "not clean"},
		{func(s *Secret) { s.TemplateFile = "/etc/db\u200b.tmpl" }, "invisible character U+200B"},
		{func(s *Secret) { s.TemplateFile = "/etc/db\n.tmpl" }, "control character"},
		{func(s *Secret) { s.LeftDelim = "}}" }, "both"},
		{func(s *Secret) { s.TemplateFileRoot = "/etc/other" }, "not under templateFileRoot /etc/other"},
		{func(s *Secret) { s.TemplateFileRoot = "/etc/app/db.tmpl" }, "not under templateFileRoot"},
		{func(s *Secret) { s.TemplateFileRoot = "etc/app" }, "absolute, clean path"},
	} {
		c := validConfig()
		s := Secret{Name: "tf", TemplateFile: "/etc/app/db.tmpl", File: "tf", Perms: DefaultPerms}
		bad.mod(&s)
		c.Secrets = append(c.Secrets, s)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%+v: Validate() = %v, want %q", s, err, bad.want)
		}
	}
}

func TestTemplateReadsDot(t *testing.T) {
	for tmpl, want := range map[string]bool{
		"static": false, `{{ with secret "p" }}{{ .Data.k }}{{ end }}`: false,
		`{{ range split "," "a,b" }}{{ . }}{{ end }}`: false, `{{ $s := secret "p" }}{{ $s.Data.k }}`: false,
		`{{ .Data.k }}`: true, `{{ . }}`: true, `{{ with secret "p" }}{{ $.Data }}{{ end }}`: true,
		`{{ with secret "p" }}x{{ else }}{{ .Data }}{{ end }}`: true, `{{ template "t" . }}`: true,
		`{{ if .Data }}x{{ end }}`: true, `{{ toJSON . }}`: true,
	} {
		tt := template.Must(template.New("").Funcs(template.FuncMap{"secret": func(...string) any { return nil },
			"split": strings.Split, "toJSON": func(any) string { return "" }}).Parse(tmpl + `{{ define "t" }}{{ . }}{{ end }}`))
		if got := TemplateReadsDot(tt); got != want {
			t.Errorf("%s: %v, want %v", tmpl, got, want)
		}
	}
}

func TestValidateDelims(t *testing.T) {
	for _, ok := range [][2]string{{"", ""}, {"[[", "]]"}, {"<%", "%>"}, {"[[", ""}, {"", "]]"}, {"«", "»"}} {
		if err := ValidateDelims(ok[0], ok[1]); err != nil {
			t.Errorf("%q %q: %v", ok[0], ok[1], err)
		}
	}
	for _, bad := range []struct{ l, r, want string }{
		{"[ [", "]]", "white space"}, {"[[", "]\t]", "white space"}, {"%%", "%%", "both \"%%\""},
		{"}}", "", "both \"}}\""}, {"[[", strings.Repeat("]", 17), "1-16"}, {"\u200b[", "]]", "invisible"},
	} {
		if err := ValidateDelims(bad.l, bad.r); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q %q: %v, want %q", bad.l, bad.r, err, bad.want)
		}
	}
	c := validConfig()
	c.Secrets[0].Template, c.Secrets[0].LeftDelim, c.Secrets[0].RightDelim = "x", "%%", "%%"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `secret "db": left and right delimiters`) {
		t.Errorf("Validate() = %v", err)
	}
}
