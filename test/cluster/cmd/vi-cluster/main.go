// Command vi-cluster brings the test cluster up in the background and down again, for
// `make demo` and for poking at a real node by hand:
//
//	go run ./test/cluster/cmd/vi-cluster up   [-state FILE] [-images tokenizer,toolbox]
//	go run ./test/cluster/cmd/vi-cluster env  [-state FILE]   # prints export KUBECONFIG=...
//	go run ./test/cluster/cmd/vi-cluster down [-state FILE]
//
// `up` writes the cluster's state (PIDs, dirs, kubeconfig) to the state file, and `down` stops
// exactly what that file names.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vault-injector/vault-injector/test/cluster"
	"github.com/vault-injector/vault-injector/test/images"
	"github.com/vault-injector/vault-injector/test/testbin"
)

// knownImages are the images `up -images` can build and import by name.
var knownImages = map[string]func() images.Image{
	"tokenizer": images.Tokenizer,
	"toolbox":   images.Toolbox,
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	state := fs.String("state", filepath.Join(testbin.CacheDir(), "demo", "cluster.json"), "state file")
	imgs := fs.String("images", "", "comma-separated images to build and import after `up`: tokenizer, toolbox")
	_ = fs.Parse(os.Args[2:])
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "up":
		err = up(ctx, *state, *imgs)
	case "down":
		err = down(*state)
	case "env":
		err = env(*state)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "vi-cluster:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: vi-cluster up|down|env [-state FILE] [-images tokenizer,toolbox]")
	os.Exit(2)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[cluster %s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// up replaces any cluster the state file names, starts a detached one and records it.
func up(ctx context.Context, stateFile, imgs string) error {
	if _, err := os.Stat(stateFile); err == nil {
		logf("stopping the cluster %s names first", stateFile)
		if err := cluster.Down(stateFile, logf); err != nil {
			return err
		}
	}
	c, err := cluster.Start(ctx, cluster.Options{Detached: true, Logf: logf})
	if err != nil {
		return err
	}
	fail := func(err error) error { return errors.Join(err, c.Stop()) }
	for _, name := range strings.FieldsFunc(imgs, func(r rune) bool { return r == ',' }) {
		img, ok := knownImages[name]
		if !ok {
			return fail(fmt.Errorf("unknown image %q", name))
		}
		if err := c.BuildAndImport(ctx, img()); err != nil {
			return fail(err)
		}
	}
	if err := c.SaveStateTo(stateFile); err != nil {
		return fail(err)
	}
	fmt.Printf("cluster %s is up (bring-up %s); state in %s\n", c.ID, c.BringUp.Round(10*time.Millisecond), stateFile)
	fmt.Printf("  export KUBECONFIG=%s\n  kubectl get nodes,pods -A\n", c.Kubeconfig)
	fmt.Printf("  pods reach host services at %s; component logs in %s\n", c.GatewayIP(), c.LogDir())
	fmt.Printf("  stop it: go run ./test/cluster/cmd/vi-cluster down -state %s\n", stateFile)
	return nil
}

func down(stateFile string) error {
	if _, err := os.Stat(stateFile); os.IsNotExist(err) {
		logf("no cluster recorded in %s", stateFile)
		return nil
	}
	return cluster.Down(stateFile, logf)
}

func env(stateFile string) error {
	s, err := cluster.LoadState(stateFile)
	if err != nil {
		return err
	}
	fmt.Printf("export KUBECONFIG=%s\n", s.Kubeconfig)
	return nil
}
