package deploy

import (
	"crypto/rand"
	"encoding/base64"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/kycflow/kycflow/internal/notifier"
)

// composeFile is the part of docker-compose.yml the checks read.
type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		User        string            `yaml:"user"`
		ReadOnly    bool              `yaml:"read_only"`
		CapDrop     []string          `yaml:"cap_drop"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Healthcheck *struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
		DependsOn map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
	} `yaml:"services"`
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	data, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	// yaml.v3 resolves the anchors and merge keys the file uses.
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

// TestCompose: every kycflow service runs the one image as a non-root user
// on a read-only root without capabilities, has a health check, exports
// traces to the collector and is configured with documented variables;
// NATS syncs every write.
func TestCompose(t *testing.T) {
	c := readCompose(t)
	documented := readmeVars(t)
	for _, name := range []string{"nats", "ingest", "enricher", "notifier", "jumiosim", "otel-collector"} {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("docker-compose.yml: no service %s", name)
		}
	}
	for name, s := range c.Services {
		if s.Image != "kycflow:dev" {
			continue
		}
		if len(s.Command) == 0 || s.Command[0] != name {
			t.Errorf("%s: command %q does not run the %s binary", name, s.Command, name)
		}
		if s.User == "" || strings.HasPrefix(s.User, "0") || s.User == "root" {
			t.Errorf("%s: user %q, want a non-root uid", name, s.User)
		}
		if !s.ReadOnly || !slices.Contains(s.CapDrop, "ALL") {
			t.Errorf("%s: want read_only and cap_drop ALL", name)
		}
		if s.Healthcheck == nil || len(s.Healthcheck.Test) < 3 || s.Healthcheck.Test[1] != "healthcheck" {
			t.Errorf("%s: want a health check with the healthcheck binary", name)
		}
		for k := range s.Environment {
			checkDocumented(t, "compose "+name, k, documented)
		}
		if name == "jumiosim" {
			continue
		}
		if got := s.Environment["OTEL_EXPORTER_OTLP_ENDPOINT"]; !strings.Contains(got, "otel-collector") {
			t.Errorf("%s: OTEL_EXPORTER_OTLP_ENDPOINT = %q, want the collector", name, got)
		}
		if s.DependsOn["nats"].Condition != "service_healthy" {
			t.Errorf("%s: does not wait for a healthy NATS", name)
		}
		if _, ok := kycflowServices[name]; !ok {
			continue
		}
		// /readyz is on the admin address when there is one (ingest's
		// KYCFLOW_INGEST_ADMIN_ADDR, which compose sets: its default
		// applies otherwise), else on the service's address.
		prefix := "KYCFLOW_" + strings.ToUpper(name) + "_"
		addr := s.Environment[prefix+"ADMIN_ADDR"]
		if addr == "" {
			addr = s.Environment[prefix+"ADDR"]
		}
		if port := listenPort(addr); port == 0 || !strings.Contains(s.Healthcheck.Test[2], ":"+strconv.Itoa(int(port))+"/readyz") {
			t.Errorf("%s: health check %q, want /readyz on the port of %q", name, s.Healthcheck.Test[2], addr)
		}
	}
	conf, err := os.ReadFile("compose/nats.conf")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(conf), "sync_interval: always") || !strings.Contains(string(conf), "store_dir") {
		t.Error("compose/nats.conf: want JetStream file storage with sync_interval: always")
	}
}

// TestComposeConfig runs docker-compose config, which validates the file
// against the Compose schema, when docker-compose is installed (CI
// installs it).
func TestComposeConfig(t *testing.T) {
	p, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Skip("docker-compose not on PATH")
	}
	cmd := exec.Command(p, "-f", "../docker-compose.yml", "config", "-q")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
}

// checkRoutesFiles parses routes files as the notifier does, with every
// secret file present.
func checkRoutesFiles(t *testing.T, files ...string) {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
	src := notifier.SecretSource{
		Getenv:   func(string) string { return secret },
		ReadFile: func(string) ([]byte, error) { return []byte(secret), nil },
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		routes, err := notifier.ParseRoutes(f, data, src)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if len(routes) == 0 {
			t.Errorf("%s: no routes", f)
		}
	}
}
