// Package cli is the kycflow command: "kycflow run" and the operator
// commands. Each subcommand lives in its own file and registers itself
// with register in an init function, so adding one touches no other file.
//
// Errors print as one line ("kycflow: …") with a non-zero exit status:
// 2 for usage errors, 1 for everything else. An error that lists several
// problems (configuration, a routes file) prints one problem per line.
package cli

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Env is what a command gets from the process: the environment (through
// getenv, so tests pass their own), standard input (confirmations, request
// files) and the output streams.
type Env struct {
	Getenv func(string) string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Program is how the user runs kycflow (Invocation); the commands
	// kycflow suggests start with it. Empty: "kycflow".
	Program string
}

func (env Env) program() string { return cmp.Or(env.Program, "kycflow") }

// Invocation is how a user who started kycflow as arg0 (os.Args[0])
// runs it again: "go run ./cmd/kycflow" for a binary that "go run" built
// (in the repository; the module path elsewhere), arg0 itself otherwise
// ("kycflow" from the PATH, "bin/kycflow", "./kycflow").
func Invocation(arg0 string) string {
	dir := filepath.Dir(arg0)
	if filepath.Base(dir) == "exe" && strings.Contains(dir, "go-build") {
		if fi, err := os.Stat(filepath.Join("cmd", "kycflow")); err == nil && fi.IsDir() {
			return "go run ./cmd/kycflow"
		}
		return "go run github.com/kycflow/kycflow/cmd/kycflow"
	}
	if arg0 == "" {
		return "kycflow"
	}
	return arg0
}

// Command is one kycflow subcommand.
type Command struct {
	// Name is the word after "kycflow".
	Name string
	// Summary is one line for the command list.
	Summary string
	// Usage is the synopsis after "kycflow <name>", for example
	// "[flags]" or "<stage> [flags]".
	Usage string
	// Description says more, in a few lines.
	Description string
	// Example is shown under --help.
	Example string
	// Flags registers the command's flags on fs; the values are read in Run.
	Flags func(fs *flag.FlagSet)
	// Check, when set, checks the arguments and flag values without any
	// I/O; it runs before Run, and on its own for the command lines of the
	// documentation (its tests).
	Check func(fs *flag.FlagSet, args []string) error
	// Run runs the command with the arguments left after the flags.
	Run func(ctx context.Context, env Env, fs *flag.FlagSet, args []string) error
}

var commands []*Command

// register adds a command; each command file calls it from init.
func register(c *Command) {
	commands = append(commands, c)
	slices.SortFunc(commands, func(a, b *Command) int { return strings.Compare(a.Name, b.Name) })
}

// errUsage marks an error in how the command was called (exit status 2).
var errUsage = errors.New("usage")

// usageError is an error in how a command was called.
func usageError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, args...)...)
}

// Main runs kycflow with args (without the program name) and returns the
// exit status.
func Main(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	return MainEnv(ctx, Env{Getenv: getenv, Stdin: stdin, Stdout: stdout, Stderr: stderr}, args)
}

// MainEnv is Main with the whole Env.
func MainEnv(ctx context.Context, env Env, args []string) int {
	stderr := env.Stderr
	err := dispatch(ctx, env, args)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, "kycflow:", strings.Replace(errorText(err), "usage: ", "", 1))
		return 2
	}
	fmt.Fprintln(stderr, "kycflow:", errorText(err))
	return 1
}

// errorText is err as printed: one line, except that the items of a list
// (lines of the error that start with a space: one problem each) keep a
// line of their own, indented by two spaces.
func errorText(err error) string {
	var b strings.Builder
	for i, l := range strings.Split(strings.TrimSpace(err.Error()), "\n") {
		item := strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")
		l = strings.Join(strings.Fields(l), " ")
		switch {
		case l == "":
		case i == 0:
			b.WriteString(l)
		case item:
			b.WriteString("\n  " + l)
		default:
			b.WriteString(" " + l)
		}
	}
	return b.String()
}

func dispatch(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help" {
		if len(args) > 1 {
			if c := find(args[1]); c != nil {
				return c.help(env.Stdout)
			}
		}
		printUsage(env.Stdout)
		if len(args) == 0 {
			return usageError("no command given (see kycflow --help)")
		}
		return nil
	}
	c, fs, positional, err := parse(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) && c != nil {
			return c.help(env.Stdout)
		}
		return err
	}
	if c.Check != nil {
		if err := c.Check(fs, positional); err != nil {
			return err
		}
	}
	return c.Run(ctx, env, fs, positional)
}

// parse finds the command args[0] names and parses its flags; it returns
// the arguments left. A --help among them gives flag.ErrHelp.
func parse(args []string) (*Command, *flag.FlagSet, []string, error) {
	c := find(args[0])
	if c == nil {
		return nil, nil, nil, usageError("unknown command %q (see kycflow --help)", args[0])
	}
	fs := flag.NewFlagSet("kycflow "+c.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if c.Flags != nil {
		c.Flags(fs)
	}
	// Flags may come before, between or after the arguments
	// ("kycflow bench ingest --duration 10s"); "--" ends the flags.
	var positional []string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return c, fs, nil, err
			}
			return c, fs, nil, usageError("%s: %v (see kycflow %s --help)", c.Name, err, c.Name)
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		if n := len(args) - len(rest); n > 0 && args[n] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		rest = rest[1:]
	}
	return c, fs, positional, nil
}

func find(name string) *Command {
	for _, c := range commands {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `kycflow turns Jumio verification callbacks into durable, normalized results.

Usage:
  kycflow <command> [flags]

Commands:
`)
	width := 0
	for _, c := range commands {
		width = max(width, len(c.Name))
	}
	for _, c := range commands {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.Name, c.Summary)
	}
	fmt.Fprint(w, `
Example:
  kycflow run                 # everything in one process, callbacks on port 8080
  kycflow run --help          # a command's flags and an example

Configuration is read from KYCFLOW_* environment variables (see the README);
secrets only from the environment or files, never from flags.
`)
}

func (c *Command) help(w io.Writer) error {
	fmt.Fprintf(w, "%s\n\nUsage:\n  kycflow %s %s\n", c.Summary, c.Name, c.Usage)
	if c.Description != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.Description))
	}
	fs := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	if c.Flags != nil {
		c.Flags(fs)
	}
	if flags := flagHelp(fs); flags != "" {
		fmt.Fprintf(w, "\nFlags:\n%s", flags)
	}
	if c.Example != "" {
		fmt.Fprintf(w, "\nExample:\n%s\n", strings.TrimRight(c.Example, "\n"))
	}
	return flag.ErrHelp
}

// flagHelp lists fs's flags as the documentation writes them ("--name
// value"), each with its usage and, unless the usage already says what
// the default is, its default.
func flagHelp(fs *flag.FlagSet) string {
	var b strings.Builder
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		if _, ok := f.Value.(*listFlag); ok {
			arg = "list"
		}
		b.WriteString("  --" + f.Name)
		if arg != "" {
			b.WriteString(" " + arg)
		}
		b.WriteString("\n        " + strings.ReplaceAll(usage, "\n", "\n        "))
		switch f.DefValue {
		case "", "0", "false", "[]":
		default:
			if !strings.Contains(usage, "default") {
				fmt.Fprintf(&b, " (default %s)", f.DefValue)
			}
		}
		b.WriteString("\n")
	})
	return b.String()
}

// count writes n things: "1 dead letter", "2 dead letters".
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
