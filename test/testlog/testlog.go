// Package testlog sets up logging for test binaries that run controller-runtime code.
package testlog

import (
	"os"
	"testing"

	"github.com/go-logr/logr"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// Main runs the package's tests with controller-runtime's global logger discarding everything,
// and exits with their result; call it from TestMain. Without a logger, controller-runtime
// (its cert watcher, envtest) prints a stack trace after 30s that reads like a failure. Tests
// that assert on log lines pass their own logger to the code under test.
func Main(m *testing.M) {
	logf.SetLogger(logr.Discard())
	os.Exit(m.Run())
}
