package cli

import (
	"bytes"
	"strings"
	"testing"
)

// TestRunSenderChecks: with the simulator (no Jumio credentials) ingest
// listens on loopback and accepts any sender; with credentials it listens
// on every interface and keeps the source-address check, and the banner
// says how to put it behind a proxy; explicit settings win.
func TestRunSenderChecks(t *testing.T) {
	creds := map[string]string{"KYCFLOW_JUMIO_CLIENT_ID": "client", "KYCFLOW_JUMIO_CLIENT_SECRET": "secret"}
	with := func(base map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		env      map[string]string
		args     []string
		addr     string
		sourceIP bool
		banner   string
	}{
		{"simulator", nil, nil, "127.0.0.1:8080", false, "this machine only"},
		{"simulator, --addr", nil, []string{"--addr", ":9000"}, ":9000", false, "source address"},
		{"simulator, address set", map[string]string{"KYCFLOW_INGEST_ADDR": ":9001"}, nil, ":9001", false, "source address"},
		{"simulator, check asked for", map[string]string{"KYCFLOW_INGEST_CHECK_SOURCE_IP": "true"}, nil, "127.0.0.1:8080", true, "KYCFLOW_INGEST_TRUSTED_PROXIES"},
		{"credentials", creds, nil, ":8080", true, "set KYCFLOW_INGEST_TRUSTED_PROXIES"},
		{"credentials, proxies", with(creds, "KYCFLOW_INGEST_TRUSTED_PROXIES", "10.0.0.0/8"), nil, ":8080", true, "X-Forwarded-For read from"},
		{"credentials, check off", with(creds, "KYCFLOW_INGEST_CHECK_SOURCE_IP", "false"), nil, ":8080", false, "source address"},
		{"admin port", map[string]string{"KYCFLOW_INGEST_ADMIN_ADDR": ":9091"}, nil, "127.0.0.1:8080", false, "ingest http://localhost:9091/readyz"},
		{"admin port by default", nil, nil, "127.0.0.1:8080", false, "Metrics    http://127.0.0.1:9090/metrics"},
		{"admin port flag", nil, []string{"--admin-addr", "127.0.0.1:9999"}, "127.0.0.1:8080", false, "ingest http://127.0.0.1:9999/readyz"},
		{"admin port off", map[string]string{"KYCFLOW_INGEST_ADMIN_ADDR": "off"}, nil, "127.0.0.1:8080", false, "ingest none (KYCFLOW_INGEST_ADMIN_ADDR=off)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := Env{Getenv: func(k string) string { return tc.env[k] }}
			_, fs, _, err := parse(append([]string{"run", "--data-dir", t.TempDir()}, tc.args...))
			if err != nil {
				t.Fatal(err)
			}
			rc, err := loadRunConfig(env, fs)
			if err != nil {
				t.Fatal(err)
			}
			if rc.ingest.Server.Addr != tc.addr || rc.ingest.CheckSourceIP != tc.sourceIP {
				t.Errorf("ingest: addr %q, source check %v; want %q, %v", rc.ingest.Server.Addr, rc.ingest.CheckSourceIP, tc.addr, tc.sourceIP)
			}
			var b bytes.Buffer
			host := "localhost:8080"
			if strings.HasPrefix(tc.addr, "127.0.0.1") {
				host = tc.addr
			}
			info := runInfo{IngestURL: "http://" + host}
			if rc.ingest.AdminAddr != "" {
				info.IngestAdminURL = "http://" + clientAddr(rc.ingest.AdminAddr, "localhost")
			}
			printBanner(&b, "kycflow", rc, info, true)
			if !strings.Contains(b.String(), tc.banner) {
				t.Errorf("banner lacks %q:\n%s", tc.banner, b.String())
			}
		})
	}
}

// TestBannerNamesChecksOffPerAPI: the banner names, per API, exactly the
// checks that are off: with every ingest check on, the Platform has none,
// and Netverify callbacks are named for their unsigned userReference and,
// when turned off, for not being confirmed against Jumio's retrieval API.
func TestBannerNamesChecksOffPerAPI(t *testing.T) {
	base := map[string]string{
		"KYCFLOW_JUMIO_CLIENT_ID": "client", "KYCFLOW_JUMIO_CLIENT_SECRET": "secret",
		"KYCFLOW_JUMIO_NETVERIFY_API_TOKEN": "token", "KYCFLOW_JUMIO_NETVERIFY_API_SECRET": "nv-secret",
		"KYCFLOW_INGEST_PATH_SECRET":            "s3cr3t-segment-0123456789",
		"KYCFLOW_INGEST_USER_REFERENCE_SECRETS": "hmac-secret",
	}
	for _, tc := range []struct {
		name     string
		env      map[string]string
		want     []string
		wantNone []string
	}{
		{"every check on but Netverify's userReference", nil,
			[]string{"Netverify callbacks:", "KYCFLOW_INGEST_USER_REFERENCE_APIS does not name netverify"},
			[]string{"Platform callbacks:", "retrieval API"}},
		{"Netverify confirmation off", map[string]string{"KYCFLOW_ENRICHER_NETVERIFY_CONFIRM": "false"},
			[]string{"Netverify callbacks:", "KYCFLOW_ENRICHER_NETVERIFY_CONFIRM=false"},
			[]string{"Platform callbacks:"}},
		{"no Netverify credentials", map[string]string{"KYCFLOW_JUMIO_NETVERIFY_API_TOKEN": "", "KYCFLOW_JUMIO_NETVERIFY_API_SECRET": ""},
			[]string{"Netverify callbacks:", "no KYCFLOW_JUMIO_NETVERIFY_API_TOKEN"},
			[]string{"Platform callbacks:"}},
		{"everything on", map[string]string{"KYCFLOW_INGEST_USER_REFERENCE_APIS": "platform,netverify"},
			nil, []string{"CHECKS OFF"}},
		{"source check off", map[string]string{"KYCFLOW_INGEST_CHECK_SOURCE_IP": "false"},
			[]string{"Platform callbacks:", "Netverify callbacks:", "KYCFLOW_INGEST_CHECK_SOURCE_IP=false"},
			[]string{"retrieval API"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tc.env {
				env[k] = v
			}
			_, fs, _, err := parse([]string{"run", "--data-dir", t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			rc, err := loadRunConfig(Env{Getenv: func(k string) string { return env[k] }}, fs)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			printBanner(&b, "kycflow", rc, runInfo{IngestURL: "http://localhost:8080"}, true)
			for _, w := range tc.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("banner lacks %q:\n%s", w, b.String())
				}
			}
			for _, w := range tc.wantNone {
				if strings.Contains(b.String(), w) {
					t.Errorf("banner says %q:\n%s", w, b.String())
				}
			}
		})
	}
}

// TestBannerCommandsAsStarted: the commands the banner suggests start the
// way kycflow was started, and name the data directory when it is not the
// default one.
func TestBannerCommandsAsStarted(t *testing.T) {
	if got, want := Invocation("/tmp/go-build1234/b001/exe/kycflow"), "go run github.com/kycflow/kycflow/cmd/kycflow"; got != want {
		t.Errorf("Invocation of a go run binary outside the repository: got %q, want %q", got, want)
	}
	for arg0, want := range map[string]string{"kycflow": "kycflow", "bin/kycflow": "bin/kycflow", "/usr/local/bin/kycflow": "/usr/local/bin/kycflow"} {
		if got := Invocation(arg0); got != want {
			t.Errorf("Invocation(%q): got %q, want %q", arg0, got, want)
		}
	}
	for _, tc := range []struct {
		program, dataDir string
		want             []string
	}{
		{"go run ./cmd/kycflow", DefaultDataDir, []string{"  go run ./cmd/kycflow send --count 10  # ", "  go run ./cmd/kycflow tail             # "}},
		{"kycflow", "/var/lib/my kycflow", []string{"  kycflow send --count 10 --data-dir '/var/lib/my kycflow'  # "}},
	} {
		var b bytes.Buffer
		printBanner(&b, tc.program, runConfig{dataDir: tc.dataDir}, runInfo{IngestURL: "http://127.0.0.1:8080", SimulatorURL: "http://127.0.0.1:1"}, true)
		for _, w := range tc.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("banner lacks %q:\n%s", w, b.String())
			}
		}
	}
}
