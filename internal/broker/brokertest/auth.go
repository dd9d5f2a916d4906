package brokertest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// Options secure a server started with StartWith. Set at most one way of
// logging in (User, Token, NKeySeed or Operator); TLS combines with any.
// The zero value is an open server, as Start runs.
type Options struct {
	// User and Password are the one login the server accepts.
	User, Password string
	// Token is the one token the server accepts.
	Token string
	// NKeySeed is a user NKey seed; the server accepts its public key.
	NKeySeed string
	// Operator runs the server in operator mode (decentralised JWT
	// authentication): it trusts Operator and knows its account.
	Operator *Operator
	// TLS serves TLS with a certificate for 127.0.0.1 signed by TLS.
	TLS *CA
	// VerifyClients requires a client certificate signed by TLS.
	VerifyClients bool
}

// configure applies o to the server options.
func (o Options) configure(t testing.TB) func(*server.Options) {
	t.Helper()
	var tlsConfig *tls.Config
	if o.TLS != nil {
		cert, key := o.TLS.Issue(t, "nats-server")
		var err error
		tlsConfig, err = server.GenTLSConfig(&server.TLSConfigOpts{
			CertFile: cert, KeyFile: key, CaFile: o.TLS.File, Verify: o.VerifyClients,
		})
		if err != nil {
			t.Fatalf("brokertest: server TLS: %v", err)
		}
	}
	var nkeyUser string
	if o.NKeySeed != "" {
		kp, err := nkeys.FromSeed([]byte(o.NKeySeed))
		if err != nil {
			t.Fatalf("brokertest: nkey seed: %v", err)
		}
		if nkeyUser, err = kp.PublicKey(); err != nil {
			t.Fatalf("brokertest: nkey: %v", err)
		}
	}
	return func(so *server.Options) {
		if o.User != "" {
			so.Users = []*server.User{{Username: o.User, Password: o.Password}}
		}
		so.Authorization = o.Token
		if nkeyUser != "" {
			so.Nkeys = []*server.NkeyUser{{Nkey: nkeyUser}}
		}
		if op := o.Operator; op != nil {
			resolver := &server.MemAccResolver{}
			_ = resolver.Store(op.account, op.accountJWT)
			_ = resolver.Store(op.system, op.systemJWT)
			so.TrustedKeys = []string{op.public}
			so.AccountResolver = resolver
			so.SystemAccount = op.system
		}
		if tlsConfig != nil {
			so.TLS, so.TLSConfig, so.TLSVerify, so.TLSTimeout = true, tlsConfig.Clone(), o.VerifyClients, 5
		}
	}
}

// clientOptions are the nats.go options that log in to a server started
// with o.
func (o Options) clientOptions(t testing.TB) []nats.Option {
	t.Helper()
	var opts []nats.Option
	if o.User != "" {
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	}
	if o.Token != "" {
		opts = append(opts, nats.Token(o.Token))
	}
	if o.NKeySeed != "" {
		kp, err := nkeys.FromSeed([]byte(o.NKeySeed))
		if err != nil {
			t.Fatalf("brokertest: nkey seed: %v", err)
		}
		pub, _ := kp.PublicKey()
		opts = append(opts, nats.Nkey(pub, kp.Sign))
	}
	if o.Operator != nil {
		opts = append(opts, nats.UserCredentials(o.Operator.CredsFile))
	}
	if o.TLS != nil {
		cfg := &tls.Config{RootCAs: x509.NewCertPool(), MinVersion: tls.VersionTLS12}
		cfg.RootCAs.AddCert(o.TLS.cert)
		if o.VerifyClients {
			certFile, keyFile := o.TLS.Issue(t, "nats-client")
			cert, err := tls.LoadX509KeyPair(certFile, keyFile)
			if err != nil {
				t.Fatalf("brokertest: client certificate: %v", err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, nats.Secure(cfg))
	}
	return opts
}

// CA is a certificate authority made for one test: a self-signed ECDSA
// certificate whose PEM file is File.
type CA struct {
	// File is the CA certificate (PEM), what KYCFLOW_NATS_TLS_CA_FILE
	// names.
	File string
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// NewCA makes a certificate authority valid for a day, its files in a
// temporary directory of t.
func NewCA(t testing.TB) *CA {
	t.Helper()
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "kycflow test CA"},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	key, der := certify(t, tmpl, nil, nil)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("brokertest: CA certificate: %v", err)
	}
	ca := &CA{dir: t.TempDir(), cert: cert, key: key}
	ca.File = ca.write(t, "ca.pem", "CERTIFICATE", der)
	return ca
}

// Issue signs a certificate for name, valid for 127.0.0.1 and localhost
// as a server and as a client, and returns the files of the certificate
// and of its key (PEM).
func (ca *CA) Issue(t testing.TB, name string) (certFile, keyFile string) {
	t.Helper()
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:    []string{"localhost"},
	}
	key, der := certify(t, tmpl, ca.cert, ca.key)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("brokertest: key: %v", err)
	}
	return ca.write(t, name+".pem", "CERTIFICATE", der), ca.write(t, name+"-key.pem", "PRIVATE KEY", keyDER)
}

// certify makes a key and a certificate for it from tmpl, valid for a
// day, signed by parent's key (self-signed when parent is nil).
func certify(t testing.TB, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("brokertest: key: %v", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatalf("brokertest: serial: %v", err)
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatalf("brokertest: certificate: %v", err)
	}
	return key, der
}

func (ca *CA) write(t testing.TB, name, kind string, der []byte) string {
	t.Helper()
	path := filepath.Join(ca.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	return path
}

// Operator is a NATS operator made for one test, with a system account,
// one account that may use JetStream and one user of that account, whose
// credentials file (user JWT and NKey seed) is CredsFile.
type Operator struct {
	// CredsFile is the user's credentials file, what
	// KYCFLOW_NATS_CREDS_FILE names.
	CredsFile  string
	public     string // operator public key
	account    string // account public key
	accountJWT string
	// JetStream needs a system account in operator mode.
	system    string
	systemJWT string
}

// NewOperator makes an operator, its accounts and a user.
func NewOperator(t testing.TB) *Operator {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("brokertest: operator: %v", err)
		}
	}
	key := func(create func() (nkeys.KeyPair, error)) (nkeys.KeyPair, string) {
		t.Helper()
		kp, err := create()
		must(err)
		pub, err := kp.PublicKey()
		must(err)
		return kp, pub
	}
	okp, opPub := key(nkeys.CreateOperator)
	// account makes an account named name, its claims signed by the
	// operator; js lets it use JetStream.
	account := func(name string, js bool) (nkeys.KeyPair, string, string) {
		t.Helper()
		kp, pub := key(nkeys.CreateAccount)
		claims := jwt.NewAccountClaims(pub)
		claims.Name = name
		if js {
			claims.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
		}
		token, err := claims.Encode(okp)
		must(err)
		return kp, pub, token
	}
	akp, accPub, accJWT := account("kycflow", true)
	_, sysPub, sysJWT := account("SYS", false)
	ukp, userPub := key(nkeys.CreateUser)
	uc := jwt.NewUserClaims(userPub)
	uc.Name = "kycflow"
	userJWT, err := uc.Encode(akp)
	must(err)
	seed, err := ukp.Seed()
	must(err)
	creds, err := jwt.FormatUserConfig(userJWT, seed)
	must(err)
	path := filepath.Join(t.TempDir(), "user.creds")
	must(os.WriteFile(path, creds, 0o600))
	return &Operator{CredsFile: path, public: opPub, account: accPub, accountJWT: accJWT, system: sysPub, systemJWT: sysJWT}
}
