package vault

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/vault-injector/vault-injector/internal/atomicdir"
)

// writeSinkLocked leaves token in the token sink (inject-token), replaced whole so the app
// never reads half a token. s.mu is held: a renewal of an older token must not write it over
// a newer one. The error names the file, never the token.
func (s *Session) writeSinkLocked(token string) error {
	if s.o.TokenSink == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(s.o.TokenSink), 0o755); err != nil {
		s.sinkDirty = true
		return fmt.Errorf("writing the token file: %w", err)
	}
	if err := atomicdir.WriteFile(s.o.TokenSink, []byte(token), s.o.TokenSinkMode); err != nil {
		s.sinkDirty = true
		return fmt.Errorf("writing the token file: %w", err)
	}
	s.sinkDirty = false
	return nil
}

// renewedSink is told of each renewal of the token of generation gen: the file is rewritten,
// as Vault Agent's file sink is after every auth, so an app (or a person) who deleted or
// overwrote it gets it back.
func (s *Session) renewedSink(gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.o.TokenSink == "" || gen != s.gen || !s.valid {
		return
	}
	if err := s.writeSinkLocked(s.token); err != nil {
		s.o.Log.Warn("rewriting the token file after a renewal failed", "err", err.Error())
	}
}
