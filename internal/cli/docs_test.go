package cli

import (
	"errors"
	"flag"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// docs are the files whose kycflow command lines must parse.
var docs = []string{"../../README.md", "../../docs/operations.md"}

// TestDocumentedCommandsParse: every kycflow command line in the README
// and the operations guide (shell blocks and inline code) names a command
// and flags that exist, with arguments and values the command accepts. It
// only parses and checks them: nothing runs.
func TestDocumentedCommandsParse(t *testing.T) {
	seen := 0
	for _, file := range docs {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, dc := range docCommands(string(b)) {
			for _, args := range expandAlternatives(dc.args) {
				seen++
				if dc.nameOnly() && find(args[0]) != nil {
					continue
				}
				if err := checkCommandLine(args); err != nil {
					t.Errorf("%s:%d: kycflow %s: %v", file, dc.line, strings.Join(args, " "), err)
				}
			}
		}
	}
	if seen < 30 {
		t.Errorf("found %d command lines in the docs; the extraction is broken", seen)
	}
}

// checkCommandLine parses args as dispatch does and runs the command's
// Check, if any.
func checkCommandLine(args []string) error {
	c, fs, positional, err := parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if c.Check != nil {
		return c.Check(fs, positional)
	}
	return nil
}

// TestDocCommandExtraction pins what the extraction finds and what it
// leaves alone.
func TestDocCommandExtraction(t *testing.T) {
	md := "Run `kycflow dlq show 42` or\n`kycflow replay\nenrich --since 2h`; `kubectl -n kycflow exec x -- kycflow …` and\n" +
		"`kycflow <command> --help`, `kycflow-data/run.json`, `docker build -t r/kycflow:v .`.\n" +
		"| `kycflow dlq list\\|show` | x |\n" +
		"```sh\nkycflow dlq list [--stage enrich|notify] --account <account id>   # a comment with kycflow tail\n" +
		"go run ./cmd/kycflow tail --all\nmake bench   # go run ./cmd/kycflow bench: all\n" +
		"X=1 go run ./cmd/kycflow run --data-dir \"$(mktemp -d)\" \\\n  --addr 127.0.0.1:1\n```\n" +
		"```go\nkycflow := 1\n```\n"
	var got []string
	for _, dc := range docCommands(md) {
		for _, args := range expandAlternatives(dc.args) {
			got = append(got, strings.Join(args, " "))
		}
	}
	want := []string{"dlq show 42", "replay enrich --since 2h", "dlq list", "dlq show",
		"dlq list --stage enrich --account 1", "dlq list --stage notify --account 1", "tail --all",
		`run --data-dir "1" --addr 127.0.0.1:1`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("extracted:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, bad := range [][]string{
		{"dlq", "show", "<id>"}, {"dlq", "list", "--stage", "notify-crm"}, {"dlq", "purge", "--before", "30d"}, {"replay", "later"},
	} {
		if checkCommandLine(bad) == nil {
			t.Errorf("kycflow %s passes the check", strings.Join(bad, " "))
		}
	}
}

// docCommand is a kycflow command line found in a document.
type docCommand struct {
	line int
	args []string
}

// nameOnly reports whether the line only names a command ("`kycflow
// replay` cannot help …"): it must exist, and is not checked as a command
// line.
func (dc docCommand) nameOnly() bool { return len(dc.args) == 1 }

var (
	fenceRE       = regexp.MustCompile("^\\s*```\\s*(\\w*)")
	codeSpanRE    = regexp.MustCompile("`([^`]+)`")
	placeholderRE = regexp.MustCompile(`<[^<>]*>|\$\([^()]*\)`)
	commandWordRE = regexp.MustCompile(`^[a-z][a-z-]*$`)
)

// docCommands finds the kycflow command lines of a Markdown document: the
// lines of shell code blocks and the inline code spans (which may wrap)
// that run kycflow, "go run ./cmd/kycflow" or "… -- kycflow".
// Lines continued with a backslash are joined. Placeholders ("<account
// id>", "<seq>") and command substitutions ("$(mktemp -d)") become "1"; a
// command named by a placeholder ("kycflow <command>", "kycflow …") is
// skipped.
func docCommands(md string) []docCommand {
	var out []docCommand
	add := func(line int, text string) {
		if args, ok := commandArgs(text); ok {
			out = append(out, docCommand{line: line, args: args})
		}
	}
	lines := strings.Split(md, "\n")
	var prose strings.Builder // the text outside code blocks, one line each
	proseLines := []int{}
	inBlock, shell := false, false
	var cont strings.Builder // a shell line continued with a backslash
	contLine := 0
	for i, l := range lines {
		if m := fenceRE.FindStringSubmatch(l); m != nil {
			if !inBlock {
				inBlock = true
				shell = m[1] == "" || m[1] == "sh" || m[1] == "bash" || m[1] == "shell" || m[1] == "console"
			} else {
				inBlock = false
			}
			prose.WriteString("\n")
			proseLines = append(proseLines, i+1)
			continue
		}
		if inBlock {
			if shell {
				code, _, _ := strings.Cut(l, "#")
				if cont.Len() == 0 {
					contLine = i + 1
				}
				if c, ok := strings.CutSuffix(strings.TrimRight(code, " \t"), `\`); ok {
					cont.WriteString(c + " ")
					continue
				}
				cont.WriteString(code)
				add(contLine, cont.String())
				cont.Reset()
			}
			prose.WriteString("\n")
		} else {
			prose.WriteString(strings.ReplaceAll(l, `\|`, "|") + "\n")
		}
		proseLines = append(proseLines, i+1)
	}
	text := prose.String()
	for _, m := range codeSpanRE.FindAllStringSubmatchIndex(text, -1) {
		line := proseLines[min(strings.Count(text[:m[0]], "\n"), len(proseLines)-1)]
		add(line, text[m[2]:m[3]])
	}
	slices.SortStableFunc(out, func(a, b docCommand) int { return a.line - b.line })
	return out
}

// commandArgs returns the arguments after kycflow in a command line.
func commandArgs(text string) ([]string, bool) {
	text = placeholderRE.ReplaceAllString(text, "1")
	fields := strings.Fields(text)
	for i, f := range fields {
		if f != "kycflow" && !strings.HasSuffix(f, "/cmd/kycflow") {
			continue
		}
		if i > 0 && fields[i-1] != "--" && fields[i-1] != "run" && fields[i-1] != "$" {
			continue // "kubectl -n kycflow", "the kycflow binary"
		}
		var args []string
		for _, a := range fields[i+1:] {
			a = strings.Trim(a, "[]")
			if a != "" && a != "…" && a != "..." {
				args = append(args, a)
			}
		}
		if len(args) == 0 || find(args[0]) == nil && !commandWordRE.MatchString(args[0]) {
			return nil, false // a placeholder command, or prose
		}
		return args, true
	}
	return nil, false
}

// expandAlternatives turns "enrich|notify" arguments into one command line
// per alternative.
func expandAlternatives(args []string) [][]string {
	out := [][]string{nil}
	for _, a := range args {
		alts := strings.Split(a, "|")
		var next [][]string
		for _, prefix := range out {
			for _, alt := range alts {
				next = append(next, append(append([]string(nil), prefix...), alt))
			}
		}
		out = next
	}
	return out
}
