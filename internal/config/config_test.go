package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestTypedLookups(t *testing.T) {
	e := FromMap(map[string]string{
		"A_INT":  "42",
		"A_DUR":  "30d",
		"A_DUR2": "1500ms",
		"A_BOOL": "true",
		"A_LIST": " a, b,,c ",
		"A_SIZE": "64KiB",
		"A_ENUM": "file",
	})
	if got, want := e.Int("A_INT", 1, ""), 42; got != want {
		t.Errorf("Int: got %d, want %d", got, want)
	}
	if got, want := e.Duration("A_DUR", time.Second, ""), 30*24*time.Hour; got != want {
		t.Errorf("Duration: got %v, want %v", got, want)
	}
	if got, want := e.Duration("A_DUR2", time.Second, ""), 1500*time.Millisecond; got != want {
		t.Errorf("Duration: got %v, want %v", got, want)
	}
	if got := e.Bool("A_BOOL", false, ""); !got {
		t.Errorf("Bool: got false, want true")
	}
	if diff := cmp.Diff([]string{"a", "b", "c"}, e.List("A_LIST", nil, "")); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	if got, want := e.Int64("A_SIZE", 0, ""), int64(64<<10); got != want {
		t.Errorf("Int64: got %d, want %d", got, want)
	}
	if got, want := e.Enum("A_ENUM", "memory", "", "file", "memory"), "file"; got != want {
		t.Errorf("Enum: got %q, want %q", got, want)
	}
	if got, want := e.String("UNSET", "def", ""), "def"; got != want {
		t.Errorf("String default: got %q, want %q", got, want)
	}
	if err := e.Err(); err != nil {
		t.Fatalf("Err: %v", err)
	}
	if got, want := len(e.Vars()), 8; got != want {
		t.Errorf("Vars: got %d, want %d", got, want)
	}
}

// TestParseErrorsAreCollected: every variable that does not parse is
// reported once, however often it is read, one per line, with its value
// (never a secret's) and what it accepts.
func TestParseErrorsAreCollected(t *testing.T) {
	e := FromMap(map[string]string{"X": "nope", "Y": "1x", "Z": "maybe", "W": "other", "R": "9", "C": "-1", "S": "x", "S_FILE": "/f"})
	for range 3 { // three stages read the same variable
		e.Int("X", 1, "")
	}
	e.Duration("Y", time.Second, "")
	e.Bool("Z", false, "")
	e.Enum("W", "a", "", "a", "b")
	e.IntRange("R", 1, 1, 5, "")
	e.IntMin("C", 16, 1, "")
	e.Secret("S", "")
	e.Invalid("X", "reported once")
	err := e.Err()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("Err: got %v, want an *Error", err)
	}
	want := []string{
		"configuration:",
		"  X=nope: want an integer",
		"  Y=1x: want a duration, such as 500ms, 30s, 5m, 2h or 30d",
		"  Z=maybe: want true or false",
		"  W=other: want one of a, b",
		"  R=9: want an integer from 1 to 5",
		"  C=-1: want an integer of at least 1",
		"  S: set either S or S_FILE, not both",
	}
	if diff := cmp.Diff(want, strings.Split(err.Error(), "\n")); diff != "" {
		t.Errorf("Err (-want +got):\n%s", diff)
	}
	var p *Problem
	if !errors.As(err, &p) || p.Key != "X" {
		t.Errorf("errors.As(*Problem): got %+v, want X", p)
	}
}

// TestOneProblemIsOneLine: a single problem reads as one line.
func TestOneProblemIsOneLine(t *testing.T) {
	e := FromMap(map[string]string{"KYCFLOW_STREAM_REPLICAS": "abc"})
	e.IntRange("KYCFLOW_STREAM_REPLICAS", 1, 1, 5, "")
	if got, want := fmt.Sprint(e.Err()), "configuration: KYCFLOW_STREAM_REPLICAS=abc: want an integer"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestSecretFromFileAndRedaction(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secret")
	if err := os.WriteFile(path, []byte("s3cr3t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := FromMap(map[string]string{"TOKEN_FILE": path})
	s := e.Secret("TOKEN", "")
	if err := e.Err(); err != nil {
		t.Fatal(err)
	}
	if got, want := s.Value(), "s3cr3t"; got != want {
		t.Fatalf("Value: got %q, want %q", got, want)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "secret", s)
	j, _ := json.Marshal(struct{ S Secret }{s})
	printed := fmt.Sprintf("%v %+v %#v %s", s, s, s, s)
	for _, out := range []string{buf.String(), string(j), printed} {
		if strings.Contains(out, "s3cr3t") {
			t.Errorf("secret leaked: %s", out)
		}
	}
}

func TestSecretBothSetIsAnError(t *testing.T) {
	e := FromMap(map[string]string{"TOKEN": "a", "TOKEN_FILE": "/nonexistent"})
	e.Secret("TOKEN", "")
	if e.Err() == nil {
		t.Fatal("Err: got nil, want an error")
	}
}

// TestEmptySecretFileIsAnError: a _FILE whose file holds no secret (empty,
// or a newline: a Secret made from an unset shell variable) is refused;
// read as unset, it turned off the checks the operator had asked for.
func TestEmptySecretFileIsAnError(t *testing.T) {
	for name, content := range map[string]string{"empty": "", "newline": "\n", "crlf": "\r\n"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "secret")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			e := FromMap(map[string]string{"TOKEN_FILE": path})
			if s := e.Secret("TOKEN", ""); s.IsSet() {
				t.Fatalf("secret set from %q", content)
			}
			if want := "configuration: TOKEN_FILE=" + path + ": the file holds no secret (it is empty)"; fmt.Sprint(e.Err()) != want {
				t.Errorf("Err: got %v, want %q", e.Err(), want)
			}
		})
	}
}
