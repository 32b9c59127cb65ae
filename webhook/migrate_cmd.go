package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/vault-injector/vault-injector/webhook/migrate"
)

// migrateCmd rewrites manifests from vault.hashicorp.com to vault-injector.io annotations, in
// place (stdout for -f -). --check writes nothing and fails when a file would change, for CI.
// Objects that cannot be translated are left as they are, reported, and fail the command.
func migrateCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files stringList
	fs.Var(&files, "f", "manifest file to rewrite in place (multi-document YAML; - for stdin to stdout); repeatable")
	check := fs.Bool("check", false, "write nothing; exit 1 if any file would change")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || len(files) == 0 {
		return errors.New("migrate needs -f FILE (or -f - for stdin) and no other arguments")
	}
	failed := false
	for _, name := range files {
		src, err := readInput(name, stdin)
		if err != nil {
			return err
		}
		out, res, err := migrate.File(name, src)
		if err != nil {
			return err
		}
		for _, w := range res.Warnings {
			fmt.Fprintln(stderr, "Warning:", w)
		}
		for _, p := range res.Problems {
			fmt.Fprintln(stderr, "error:", p)
		}
		failed = failed || len(res.Problems) > 0
		switch {
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
