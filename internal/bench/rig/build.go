package rig

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// Binaries are the programs a pipeline runs.
type Binaries struct {
	Ingest, Enricher, Notifier, Kycflow string
	// NATSServer is nats-server built from the module the broker embeds
	// (github.com/nats-io/nats-server/v2 at the version go.mod requires).
	NATSServer string
}

// BuildConfig configures Build.
type BuildConfig struct {
	// Dir receives the binaries (required).
	Dir string
	// Race builds kycflow's programs with the race detector (nats-server
	// is always built without it).
	Race bool
	// Tags are build tags (FaultHooksTag for the test-only fault hooks).
	Tags []string
	// Programs limits the build to these of "ingest", "enricher",
	// "notifier", "kycflow" and "nats-server" (default all); the others'
	// paths stay empty.
	Programs []string
	// Log gets the go command's output (nil: it is returned in the error
	// only).
	Log io.Writer
}

// ErrNoModule is returned by Build outside the kycflow source tree.
var ErrNoModule = errors.New("rig: the kycflow module (go.mod) is not in the working directory or above it")

// natsServerPackage is the main package of nats-server.
const natsServerPackage = "github.com/nats-io/nats-server/v2"

// FaultHooksTag is the build tag that compiles the test-only fault hooks
// into the services (internal/enricher/faulthooks_on.go): a binary built
// without it, as every release build is, has none and reads none of their
// variables.
const FaultHooksTag = "kycflow_faulthooks"

// programs are the programs Build can build: name and package.
var programs = []struct{ name, pkg string }{
	{"ingest", "./cmd/ingest"},
	{"enricher", "./cmd/enricher"},
	{"notifier", "./cmd/notifier"},
	{"kycflow", "./cmd/kycflow"},
	{"nats-server", natsServerPackage},
}

// Build compiles cmd/ingest, cmd/enricher, cmd/notifier, cmd/kycflow and
// nats-server into cfg.Dir with the go command (found in PATH or GOROOT),
// from the module around the working directory. The build cache makes a
// repeated build quick.
func Build(ctx context.Context, cfg BuildConfig) (Binaries, error) {
	if cfg.Dir == "" {
		return Binaries{}, errors.New("rig: build: no output directory")
	}
	gocmd, err := goCommand()
	if err != nil {
		return Binaries{}, err
	}
	root, err := moduleRoot(ctx, gocmd)
	if err != nil {
		return Binaries{}, err
	}
	// kycflow's programs with the race detector when asked; nats-server
	// never: it is not kycflow's code, and instrumented it runs several
	// times slower, which on a small machine turns every election and
	// catch-up of a cluster into a long wait.
	var ours, theirs []string
	var built []string
	for _, prog := range programs {
		if len(cfg.Programs) == 0 || slices.Contains(cfg.Programs, prog.name) {
			if prog.pkg == natsServerPackage {
				theirs = append(theirs, prog.pkg)
			} else {
				ours = append(ours, prog.pkg)
			}
			built = append(built, filepath.Join(cfg.Dir, prog.name))
		}
	}
	if len(built) == 0 {
		return Binaries{}, fmt.Errorf("rig: build: no known program in %v", cfg.Programs)
	}
	build := func(race bool, pkgs []string) error {
		if len(pkgs) == 0 {
			return nil
		}
		args := []string{"build", "-o", cfg.Dir + string(filepath.Separator)}
		if race {
			args = append(args, "-race")
		}
		if len(cfg.Tags) > 0 {
			args = append(args, "-tags", strings.Join(cfg.Tags, ","))
		}
		args = append(args, pkgs...)
		cmd := exec.CommandContext(ctx, gocmd, args...)
		cmd.Dir = root
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if cfg.Log != nil {
			cmd.Stdout, cmd.Stderr = io.MultiWriter(&out, cfg.Log), io.MultiWriter(&out, cfg.Log)
		}
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("rig: go %s: %w\n%s", strings.Join(args, " "), err, out.String())
		}
		return nil
	}
	if err := build(cfg.Race, ours); err != nil {
		return Binaries{}, err
	}
	if err := build(false, theirs); err != nil {
		return Binaries{}, err
	}
	var b Binaries
	for _, p := range built {
		if _, err := os.Stat(p); err != nil {
			return Binaries{}, fmt.Errorf("rig: build: %w", err)
		}
		switch filepath.Base(p) {
		case "ingest":
			b.Ingest = p
		case "enricher":
			b.Enricher = p
		case "notifier":
			b.Notifier = p
		case "kycflow":
			b.Kycflow = p
		case "nats-server":
			b.NATSServer = p
		}
	}
	return b, nil
}

// goCommand finds the go command.
func goCommand() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	if root := os.Getenv("GOROOT"); root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("rig: the go command is not in PATH")
}

// moduleRoot is the directory of the kycflow go.mod around the working
// directory.
func moduleRoot(ctx context.Context, gocmd string) (string, error) {
	out, err := exec.CommandContext(ctx, gocmd, "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("rig: go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", ErrNoModule
	}
	data, err := os.ReadFile(gomod)
	if err != nil {
		return "", fmt.Errorf("rig: %w", err)
	}
	if !bytes.Contains(data, []byte("module github.com/kycflow/kycflow\n")) {
		return "", ErrNoModule
	}
	return filepath.Dir(gomod), nil
}
