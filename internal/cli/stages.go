package cli

import (
	"context"
	"net"

	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/internal/jumioconfig"
	"github.com/kycflow/kycflow/internal/telemetry"
	"github.com/kycflow/kycflow/pkg/jumio"
)

// stageConfig is the configuration of the enrich stage of "kycflow run".
type stageConfig struct {
	jumio jumio.Config
	addr  string
}

func loadStages(e *config.Env) stageConfig {
	return stageConfig{jumio: jumioconfig.LoadConfig(e)}
}

func (s *stageConfig) setAddr(addr string) { s.addr = addr }

// needsSimulator reports whether no Jumio credentials are configured.
func (s *stageConfig) needsSimulator() bool { return !jumioconfig.HasCredentials(s.jumio) }

// jumioTarget says which Jumio the enricher talks to.
func (s *stageConfig) jumioTarget() string {
	return "region " + string(s.jumio.Region)
}

// enricher returns the enrich stage.
func (s *stageConfig) enricher(natsURL string, sim *localSimulator, tel *telemetry.Telemetry,
	listen func(name, addr string) (net.Listener, error)) (func(context.Context) error, net.Listener, error) {
	return nil, nil, nil
}
