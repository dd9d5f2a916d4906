package config

import (
	"bytes"
	"encoding/json"
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

func TestParseErrorsAreCollected(t *testing.T) {
	e := FromMap(map[string]string{"X": "nope", "Y": "1x", "Z": "maybe", "W": "other"})
	e.Int("X", 1, "")
	e.Duration("Y", time.Second, "")
	e.Bool("Z", false, "")
	e.Enum("W", "a", "", "a", "b")
	err := e.Err()
	if err == nil {
		t.Fatal("Err: got nil, want an error")
	}
	for _, key := range []string{"X", "Y", "Z", "W"} {
		if !strings.Contains(err.Error(), key+":") {
			t.Errorf("Err does not name %s: %v", key, err)
		}
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
