package vault

import (
	"context"
	"os"
	"strings"
)

// tokenFileLogin "logs in" by reading a Vault token from a file and checking it with
// lookup-self (auth.method token: the agent's tests and benchmarks, local debugging). Renewal,
// re-login when it ends and revocation are the same as for a real login.
type tokenFileLogin struct {
	tokens Tokens
	file   string
}

// Login implements Method, reading the file afresh, so a replaced token is picked up.
func (l *tokenFileLogin) Login(ctx context.Context) (Token, error) {
	b, err := os.ReadFile(l.file)
	if err != nil {
		return Token{}, &Error{Op: "login", Path: "token file " + l.file, Err: err}
	}
	return l.tokens.LookupToken(ctx, strings.TrimSpace(string(b)))
}
