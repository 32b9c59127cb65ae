package certs

import (
	"testing"

	"github.com/vault-injector/vault-injector/test/testlog"
)

func TestMain(m *testing.M) { testlog.Main(m) }
