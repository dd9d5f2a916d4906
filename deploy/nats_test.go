package deploy

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// natsValues is the part of deploy/nats/values.yaml (the NATS Helm
// chart's values) that the store encryption is made of.
type natsValues struct {
	Config struct {
		JetStream struct {
			Enabled bool           `json:"enabled"`
			Merge   map[string]any `json:"merge"`
		} `json:"jetstream"`
	} `json:"config"`
	Container struct {
		// Env maps a variable's name to its value, or to the rest of an
		// EnvVar (the chart's nats.env).
		Env map[string]json.RawMessage `json:"env"`
	} `json:"container"`
}

// TestNATSValuesEncryptTheStore: the production NATS servers encrypt
// their store with a key that comes from a Kubernetes Secret: the
// container's JS_KEY is a secretKeyRef (decoded strictly as a
// corev1.EnvVar, as the chart renders it), never a literal, and the
// jetstream block the chart renders from the values, parsed by
// nats-server's own configuration parser, sets the key from that
// variable and a cipher.
func TestNATSValuesEncryptTheStore(t *testing.T) {
	b, err := os.ReadFile("nats/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var v natsValues
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	env := map[string]corev1.EnvVar{}
	for name, raw := range v.Container.Env {
		var ev corev1.EnvVar
		var literal string
		if json.Unmarshal(raw, &literal) == nil {
			ev = corev1.EnvVar{Name: name, Value: literal}
		} else {
			var fields map[string]any
			if err := json.Unmarshal(raw, &fields); err != nil {
				t.Fatalf("container.env.%s: %v", name, err)
			}
			fields["name"] = name
			j, _ := json.Marshal(fields)
			if err := yaml.UnmarshalStrict(j, &ev); err != nil {
				t.Fatalf("container.env.%s is no EnvVar: %v", name, err)
			}
		}
		env[name] = ev
	}
	key, ok := env["JS_KEY"]
	switch {
	case !ok:
		t.Fatal("container.env has no JS_KEY")
	case key.Value != "" || key.ValueFrom == nil || key.ValueFrom.SecretKeyRef == nil:
		t.Errorf("JS_KEY is %+v, want it from a secretKeyRef only", key)
	case key.ValueFrom.SecretKeyRef.Name == "" || key.ValueFrom.SecretKeyRef.Key == "":
		t.Errorf("JS_KEY's secretKeyRef names no Secret or key: %+v", key.ValueFrom.SecretKeyRef)
	case key.ValueFrom.SecretKeyRef.Optional != nil && *key.ValueFrom.SecretKeyRef.Optional:
		t.Errorf("JS_KEY's Secret is optional: a server would start unencrypted without it")
	}
	if !v.Config.JetStream.Enabled {
		t.Fatal("JetStream is off")
	}

	// The jetstream block as the chart renders it: "<< x >>" unquoted,
	// everything else as JSON.
	var conf strings.Builder
	fmt.Fprintf(&conf, "jetstream {\n  store_dir: %q\n", t.TempDir())
	for _, k := range slices.Sorted(maps.Keys(v.Config.JetStream.Merge)) {
		val := v.Config.JetStream.Merge[k]
		if s, ok := val.(string); ok && strings.HasPrefix(s, "<<") && strings.HasSuffix(s, ">>") {
			fmt.Fprintf(&conf, "  %s: %s\n", k, strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(s, "<<"), ">>")))
			continue
		}
		j, _ := json.Marshal(val)
		fmt.Fprintf(&conf, "  %s: %s\n", k, j)
	}
	conf.WriteString("}\n")
	file := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(file, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	const secret = "the-key-from-the-secret-0123456789abcdef"
	t.Setenv("JS_KEY", secret)
	opts, err := server.ProcessConfigFile(file)
	if err != nil {
		t.Fatalf("nats-server refuses the rendered jetstream block: %v\n%s", err, conf.String())
	}
	if opts.JetStreamKey != secret {
		t.Errorf("the rendered jetstream block does not take the key from JS_KEY:\n%s", conf.String())
	}
	if _, ok := v.Config.JetStream.Merge["cipher"]; !ok || opts.JetStreamCipher != server.ChaCha {
		t.Errorf("cipher %v, want chachapoly named (the default, said out loud)", opts.JetStreamCipher)
	}
	if opts.JetStreamOldKey != "" {
		t.Errorf("a previous key is set: it belongs in the values only during a key rotation")
	}
}
