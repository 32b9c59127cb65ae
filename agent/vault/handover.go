package vault

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/vault-injector/vault-injector/internal/atomicdir"
)

// obtain gets a new token: the handed-over one if there is one to try and Vault accepts it,
// else a login (counted, and left in the handover file). via says which, for the log.
func (s *Session) obtain(ctx context.Context) (tok Token, via string, err error) {
	if tok, ok := s.fromHandover(ctx); ok {
		return tok, "handover", nil
	}
	tok, err = s.o.Login.Login(ctx)
	if err != nil {
		call(s.o.Events.LoginFailed)
		return Token{}, "", err
	}
	call(s.o.Events.LoggedIn)
	if err := s.writeHandover(tok.Value); err != nil {
		s.o.Log.Warn("writing the token handover file failed", "file", s.o.HandoverFile, "err", err.Error())
	}
	return tok, "login", nil
}

// fromHandover tries the handover file (classic mode: the init container left its token in a
// private in-memory volume) once per process; a missing, unreadable or dead token just means
// logging in.
func (s *Session) fromHandover(ctx context.Context) (Token, bool) {
	if s.o.HandoverFile == "" || s.handoverTried {
		return Token{}, false
	}
	s.handoverTried = true
	b, err := os.ReadFile(s.o.HandoverFile)
	if err != nil {
		s.o.Log.Info("no handed-over token, logging in", "file", s.o.HandoverFile)
		return Token{}, false
	}
	tok, err := s.o.Tokens.LookupToken(ctx, strings.TrimSpace(string(b)))
	if err != nil {
		s.o.Log.Info("handed-over token not usable, logging in", "err", err.Error())
		return Token{}, false
	}
	return tok, true
}

// writeHandover leaves token for the pod's next agent (the classic sidecar, or this one after a
// restart), replaced whole so a reader never sees half a token.
func (s *Session) writeHandover(token string) error {
	if s.o.HandoverFile == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(s.o.HandoverFile), 0o700); err != nil {
		return err
	}
	return atomicdir.WriteFile(s.o.HandoverFile, []byte(token), 0o600)
}

func call(f func()) {
	if f != nil {
		f()
	}
}
