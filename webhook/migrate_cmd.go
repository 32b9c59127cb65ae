package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/vault-injector/vault-injector/webhook/config"
	"github.com/vault-injector/vault-injector/webhook/migrate"
)

// migrateCmd rewrites manifests from vault.hashicorp.com to vault-injector.io annotations, in
// place (stdout for -f -). --check writes nothing and fails when a file would change, for CI.
// Each rewritten pod is checked as admission would check it, under the injection flags
// (`inject`'s defaults); a file with an object that cannot be translated or would be refused
// is not written, the objects are reported, and the command fails.
func migrateCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg := config.New()
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files stringList
	fs.Var(&files, "f", "manifest file to rewrite in place (multi-document YAML; - for stdin to stdout); repeatable")
	check := fs.Bool("check", false, "write nothing; exit 1 if any file would change")
	cfg.Inject.VaultAddr = config.DefaultVaultAddr
	cfg.Inject.AgentImage = config.AgentImage(version)
	cfg.BindInjection(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if len(files) == 0 {
		return errors.New("migrate needs at least one -f FILE (or -f - for stdin)")
	}
	if err := cfg.LoadInjection(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	failed := false
	for _, name := range files {
		src, err := readInput(name, stdin)
		if err != nil {
			return err
		}
		out, res, err := migrate.File(name, src, cfg.Inject)
		if err != nil {
			return err
		}
		for _, w := range res.Warnings {
			fmt.Fprintln(stderr, "Warning:", w)
		}
		for _, p := range res.Problems {
			fmt.Fprintln(stderr, "error:", p)
		}
		switch {
		case len(res.Problems) > 0:
			failed = true
			fmt.Fprintf(stderr, "%s: not rewritten: fix the objects above first\n", name)
			if name == "-" && !*check {
				_, _ = stdout.Write(src) // unchanged: a pipeline loses nothing
			}
		case *check && res.Changed:
			fmt.Fprintf(stderr, "%s: would change (run webhook migrate -f %s)\n", name, name)
			failed = true
		case *check:
		case name == "-":
			_, _ = stdout.Write(out)
		case res.Changed:
			if err := writeKeepingMode(name, out); err != nil {
				return err
			}
			fmt.Fprintf(stderr, "%s: migrated\n", name)
		}
	}
	if failed {
		return errReported
	}
	return nil
}

func readInput(name string, stdin io.Reader) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(name)
}

func writeKeepingMode(name string, b []byte) error {
	st, err := os.Stat(name)
	if err != nil {
		return err
	}
	return os.WriteFile(name, b, st.Mode().Perm())
}
