package embedded

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Keys of the tests: MinStoreKeyLen bytes and more.
const (
	keyA = "key-a-0123456789abcdefghijklmnopqrstuv"
	keyB = "key-b-0123456789abcdefghijklmnopqrstuv"
)

// marker is what the tests store and look for on disk.
const marker = "Zephyrine-Quillfeather-7731"

// writeStore runs a server with cfg on dir, stores one message holding
// marker and text in stream KYC (made when missing), and stops it.
func writeStore(t *testing.T, cfg Config, text string) {
	t.Helper()
	s := run(t, cfg)
	defer s.Stop()
	js := jsOf(t, s)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "KYC", Subjects: []string{"kyc.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "kyc.person", []byte(`{"firstName":"`+marker+`","n":"`+text+`"}`)); err != nil {
		t.Fatal(err)
	}
}

// readStore runs a server with cfg and returns the messages of KYC.
func readStore(t *testing.T, cfg Config) []string {
	t.Helper()
	s := run(t, cfg)
	defer s.Stop()
	js := jsOf(t, s)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, "KYC")
	if err != nil {
		t.Fatalf("stream KYC: %v", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		out = append(out, string(m.Data))
	}
	return out
}

func run(t *testing.T, cfg Config) *Server {
	t.Helper()
	cfg.Port = -1
	s, err := Run(cfg)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return s
}

func jsOf(t *testing.T, s *Server) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// onDisk reports the files under dir that hold marker.
func onDisk(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(marker)) {
			found = append(found, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestStoreKeyChecks: Run refuses, before the server starts, a store the
// key settings do not fit, naming the streams, and starts on one they fit.
func TestStoreKeyChecks(t *testing.T) {
	for _, tc := range []struct {
		name    string
		written Config // the store was written with
		start   Config // Run is started with
		want    error  // nil: it starts and reads the message back
	}{
		{"encrypted, no key", Config{StoreKey: keyA}, Config{}, ErrStoreEncrypted},
		{"plain, a key", Config{}, Config{StoreKey: keyA}, ErrStoreNotEncrypted},
		{"another key", Config{StoreKey: keyA}, Config{StoreKey: keyB}, ErrStoreKeyWrong},
		{"another key, the store's as previous", Config{StoreKey: keyA}, Config{StoreKey: keyB, PreviousStoreKey: keyA}, nil},
		{"short key", Config{}, Config{StoreKey: keyA[:MinStoreKeyLen-1]}, ErrStoreKeyShort},
		{"the same key", Config{StoreKey: keyA}, Config{StoreKey: keyA}, nil},
		{"the same key, AES", Config{StoreKey: keyA, StoreCipher: CipherAES}, Config{StoreKey: keyA, StoreCipher: CipherAES}, nil},
		{"the same key, the cipher changed", Config{StoreKey: keyA}, Config{StoreKey: keyA, StoreCipher: CipherAES}, nil},
		{"plain, no key", Config{}, Config{}, nil},
		{"plain, a key, encrypt existing", Config{}, Config{StoreKey: keyA, EncryptExisting: true}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.written.StoreDir, tc.start.StoreDir = dir, dir
			writeStore(t, tc.written, "1")
			start := tc.start
			start.Port = -1
			s, err := Run(start)
			if s != nil {
				s.Stop()
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if se := (*StoreError)(nil); errors.As(err, &se) && !cmp.Equal(se.Streams, []string{"KYC"}) {
				t.Errorf("got streams %q, want KYC", se.Streams)
			}
			if err != nil {
				if k := tc.start.StoreKey; k != "" && strings.Contains(err.Error(), k) {
					t.Errorf("the error holds the key: %v", err)
				}
				return
			}
			if got := readStore(t, tc.start); len(got) != 1 || !strings.Contains(got[0], marker) {
				t.Errorf("read %q, want the message written", got)
			}
		})
	}
}

// TestStoreEncrypted: with a key nothing stored is on disk in plain text;
// without one it is (so the search can find it); a plain store encrypted
// in place at start (EncryptExisting) keeps its messages and holds no
// plain text after.
func TestStoreEncrypted(t *testing.T) {
	plain, enc := t.TempDir(), t.TempDir()
	writeStore(t, Config{StoreDir: plain}, "1")
	writeStore(t, Config{StoreDir: enc, StoreKey: keyA}, "1")
	if got := onDisk(t, plain); len(got) == 0 {
		t.Errorf("the plain store does not hold %q: the search cannot find anything", marker)
	}
	if got := onDisk(t, enc); len(got) > 0 {
		t.Errorf("the encrypted store holds %q in %q", marker, got)
	}
	got, err := StreamsEncrypted(enc)
	if err != nil || !cmp.Equal(got, map[string]bool{"KYC": true}) {
		t.Errorf("StreamsEncrypted(encrypted store) = %v, %v; want KYC true", got, err)
	}
	if got, err := StreamsEncrypted(plain); err != nil || !cmp.Equal(got, map[string]bool{"KYC": false}) {
		t.Errorf("StreamsEncrypted(plain store) = %v, %v; want KYC false", got, err)
	}

	cfg := Config{StoreDir: plain, StoreKey: keyA, EncryptExisting: true}
	writeStore(t, cfg, "2")
	if got := readStore(t, Config{StoreDir: plain, StoreKey: keyA}); len(got) != 2 {
		t.Errorf("after encrypting in place: %d messages, want 2", len(got))
	}
	if got := onDisk(t, plain); len(got) > 0 {
		t.Errorf("the store encrypted in place still holds %q in %q", marker, got)
	}
}

// TestStoreKeyRotation: started with a new key and the previous one, the
// server re-encrypts the store with the new key; after that the new key
// alone opens it and the previous one no longer does.
func TestStoreKeyRotation(t *testing.T) {
	dir := t.TempDir()
	writeStore(t, Config{StoreDir: dir, StoreKey: keyA}, "1")
	writeStore(t, Config{StoreDir: dir, StoreKey: keyB, PreviousStoreKey: keyA}, "2")
	if got := readStore(t, Config{StoreDir: dir, StoreKey: keyB}); len(got) != 2 {
		t.Errorf("with the new key alone: %d messages, want 2", len(got))
	}
	s, err := Run(Config{StoreDir: dir, Port: -1, StoreKey: keyA})
	if err == nil {
		s.Stop()
	}
	if !errors.Is(err, ErrStoreKeyWrong) {
		t.Errorf("with the previous key alone: got %v, want ErrStoreKeyWrong", err)
	}
}
