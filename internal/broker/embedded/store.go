package embedded

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Cipher is the cipher of JetStream's store encryption.
type Cipher string

// Ciphers of Config.StoreCipher.
const (
	// CipherChaCha is ChaCha20-Poly1305 (XChaCha20 nonces),
	// nats-server's default: fast in software on every CPU, constant
	// time without AES instructions. Not allowed in FIPS 140 mode.
	CipherChaCha Cipher = "chacha"
	// CipherAES is AES-256-GCM: as fast or faster on CPUs with AES
	// instructions, and the one FIPS 140 allows.
	CipherAES Cipher = "aes"
)

// Ciphers lists the ciphers, the default first.
var Ciphers = []Cipher{CipherChaCha, CipherAES}

// MinStoreKeyLen is the shortest store key accepted, in bytes. The server
// derives its keys from the store key with HMAC-SHA256 and no stretching,
// so the key must be random: 32 random bytes, or a passphrase of 32
// characters or more drawn from a random generator (openssl rand -base64
// 48 prints 64).
const MinStoreKeyLen = 32

// Errors of CheckStore (and Run), matched with errors.Is; they come as a
// *StoreError that names the store and its streams.
var (
	// ErrStoreKeyShort: StoreKey is shorter than MinStoreKeyLen.
	ErrStoreKeyShort = errors.New("store key too short")
	// ErrStoreEncrypted: the store holds encrypted streams and no key
	// was given.
	ErrStoreEncrypted = errors.New("store is encrypted and no key was given")
	// ErrStoreNotEncrypted: a key was given and the store holds streams
	// written without encryption (and EncryptExisting is off).
	ErrStoreNotEncrypted = errors.New("store was written without encryption")
	// ErrStoreKeyWrong: neither StoreKey nor PreviousStoreKey opens the
	// store's encrypted streams: it was written with another key.
	ErrStoreKeyWrong = errors.New("store was written with another key")
)

// StoreError is a store that the configuration cannot open as it is. It
// never holds a key.
type StoreError struct {
	// Dir is the store directory.
	Dir string
	// Streams are the streams concerned.
	Streams []string
	// Err is ErrStoreEncrypted, ErrStoreNotEncrypted or ErrStoreKeyWrong.
	Err error
}

func (e *StoreError) Error() string {
	return fmt.Sprintf("embedded: %v: %s (streams %s)", e.Err, e.Dir, strings.Join(e.Streams, ", "))
}

func (e *StoreError) Unwrap() error { return e.Err }

// globalAccount is the account of a server without accounts, where
// kycflow's streams live.
const globalAccount = "$G"

// storedStream is a stream's directory in the store.
type storedStream struct {
	account, name, dir string
	encrypted          bool
}

// label names the stream, with its account unless it is the global one.
func (s storedStream) label() string {
	if s.account == globalAccount {
		return s.name
	}
	return s.account + " > " + s.name
}

// CheckStore reports whether the key settings of cfg fit the store in
// cfg.StoreDir, before a server starts on it: a *StoreError when the
// store is encrypted and no key is given, when a key is given and the
// store holds streams written without encryption (unless
// EncryptExisting), or when the key (or the previous key) opens none of
// the store's encrypted streams; ErrStoreKeyShort for a key shorter than
// MinStoreKeyLen. An empty or new store fits any key. Whether a key opens
// a stream is decided by nats-server's own code: a server with no
// listener recovers a copy of the streams' metadata files. That check
// covers the global account, where kycflow's streams live (kycflow run
// configures no accounts).
func CheckStore(cfg Config) error {
	if err := checkKeys(cfg); err != nil {
		return err
	}
	streams, err := scanStore(cfg.StoreDir)
	if err != nil {
		return fmt.Errorf("embedded: read the store: %w", err)
	}
	var plain, encrypted []storedStream
	for _, s := range streams {
		if s.encrypted {
			encrypted = append(encrypted, s)
		} else {
			plain = append(plain, s)
		}
	}
	switch {
	case cfg.StoreKey == "" && len(encrypted) > 0:
		return storeError(cfg.StoreDir, encrypted, ErrStoreEncrypted)
	case cfg.StoreKey != "" && len(plain) > 0 && !cfg.EncryptExisting:
		return storeError(cfg.StoreDir, plain, ErrStoreNotEncrypted)
	case cfg.StoreKey == "" || len(encrypted) == 0:
		return nil
	}
	unopened, err := notOpened(cfg, encrypted)
	if err != nil {
		return fmt.Errorf("embedded: check the store key: %w", err)
	}
	if len(unopened) > 0 {
		return storeError(cfg.StoreDir, unopened, ErrStoreKeyWrong)
	}
	return nil
}

func checkKeys(cfg Config) error {
	switch {
	case cfg.StoreKey != "" && len(cfg.StoreKey) < MinStoreKeyLen:
		return fmt.Errorf("embedded: %w: store key of %d bytes, want at least %d", ErrStoreKeyShort, len(cfg.StoreKey), MinStoreKeyLen)
	case cfg.PreviousStoreKey != "" && cfg.StoreKey == "":
		return errors.New("embedded: a previous store key needs a store key (the new one)")
	case cfg.StoreCipher != "" && !slices.Contains(Ciphers, cfg.StoreCipher):
		return fmt.Errorf("embedded: unknown store cipher %q (want chacha or aes)", cfg.StoreCipher)
	}
	return nil
}

func storeError(dir string, streams []storedStream, err error) *StoreError {
	e := &StoreError{Dir: dir, Err: err}
	for _, s := range streams {
		e.Streams = append(e.Streams, s.label())
	}
	return e
}

// scanStore lists the streams in a store directory: the directories
// <store>/jetstream/<account>/streams/<stream> that hold the stream's
// metadata (meta.inf); a stream is encrypted when its metadata key
// (meta.key) is there too. Directories the server marks as being deleted
// (a leading ".") are left out, as the server removes them.
func scanStore(storeDir string) ([]storedStream, error) {
	root := filepath.Join(storeDir, server.JetStreamStoreDir)
	accounts, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []storedStream
	for _, acc := range accounts {
		if !acc.IsDir() {
			continue
		}
		dir := filepath.Join(root, acc.Name(), "streams")
		names, err := os.ReadDir(dir)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if !n.IsDir() || strings.HasPrefix(n.Name(), ".") {
				continue
			}
			sdir := filepath.Join(dir, n.Name())
			if _, err := os.Stat(filepath.Join(sdir, server.JetStreamMetaFile)); err != nil {
				continue
			}
			_, kerr := os.Stat(filepath.Join(sdir, server.JetStreamMetaFileKey))
			out = append(out, storedStream{account: acc.Name(), name: n.Name(), dir: sdir, encrypted: kerr == nil})
		}
	}
	return out, nil
}

// StreamsEncrypted reports, for each stream of the global account in the
// store in storeDir, whether it is stored encrypted (its metadata key is
// there). It reads the store's files only, with or without a server
// running on them: for "kycflow streams" on the machine of a "kycflow
// run".
func StreamsEncrypted(storeDir string) (map[string]bool, error) {
	streams, err := scanStore(storeDir)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, s := range streams {
		if s.account == globalAccount {
			out[s.name] = s.encrypted
		}
	}
	return out, nil
}

// notOpened returns the encrypted streams of the global account that
// neither cfg.StoreKey nor cfg.PreviousStoreKey opens. A server of its
// own, with no listener and a temporary store holding a copy of the
// streams' metadata files (no messages), recovers them with the keys; the
// streams it did not recover are the ones the keys do not open.
func notOpened(cfg Config, encrypted []storedStream) ([]storedStream, error) {
	tmp, err := os.MkdirTemp("", "kycflow-store-check-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	var check []storedStream
	for _, s := range encrypted {
		if s.account != globalAccount {
			continue
		}
		dst := filepath.Join(tmp, server.JetStreamStoreDir, s.account, "streams", s.name)
		if err := os.MkdirAll(dst, 0o700); err != nil {
			return nil, err
		}
		for _, f := range []string{server.JetStreamMetaFile, server.JetStreamMetaFileSum, server.JetStreamMetaFileKey} {
			if err := copyFile(filepath.Join(s.dir, f), filepath.Join(dst, f)); err != nil {
				return nil, err
			}
		}
		check = append(check, s)
	}
	if len(check) == 0 {
		return nil, nil
	}
	opts := &server.Options{
		ServerName: "kycflow-store-check",
		DontListen: true,
		JetStream:  true,
		StoreDir:   tmp,
		NoSigs:     true,
		NoLog:      true,
	}
	encrypt(opts, cfg)
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, err
	}
	go s.Start()
	defer func() {
		s.Shutdown()
		s.WaitForShutdown()
	}()
	if !s.ReadyForConnections(10 * time.Second) {
		return nil, errors.New("the checking server did not start")
	}
	acc, err := s.JszAccount(&server.JSzOptions{Account: globalAccount, Streams: true})
	if err != nil {
		return nil, err
	}
	var out []storedStream
	for _, st := range check {
		if !slices.ContainsFunc(acc.Streams, func(d server.StreamDetail) bool { return d.Name == st.name }) {
			out = append(out, st)
		}
	}
	return out, nil
}

// encrypt sets the store encryption options of cfg.
func encrypt(opts *server.Options, cfg Config) {
	if cfg.StoreKey == "" {
		return
	}
	opts.JetStreamKey = cfg.StoreKey
	opts.JetStreamOldKey = cfg.PreviousStoreKey
	opts.JetStreamCipher = server.ChaCha
	if cfg.StoreCipher == CipherAES {
		opts.JetStreamCipher = server.AES
	}
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
