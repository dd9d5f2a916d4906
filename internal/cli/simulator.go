package cli

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// simulatorFile keeps the simulator's executions across restarts of
// "kycflow run", so that callbacks stored before a restart are still
// enriched after it. It holds invented personal data only.
const simulatorFile = "simulator.json"

// simulatorState is the content of simulatorFile.
type simulatorState struct {
	Executions     []jumiotest.Execution     `json:"executions"`
	NetverifyScans []jumiotest.NetverifyScan `json:"netverifyScans"`
}

// localSimulator is the Jumio simulator "kycflow run" starts when no Jumio
// credentials are configured.
type localSimulator struct {
	*jumiotest.Server
	path  string
	saved uint64
}

// simulatorCompleteAfter is how long a transaction initiated on the local
// simulator ("kycflow initiate") takes to complete and call back.
const simulatorCompleteAfter = 5 * time.Second

// startSimulator starts the simulator on addr with the executions saved in
// dir; transactions initiated on it call back callbackURL.
func startSimulator(dir, addr, callbackURL string) (*localSimulator, error) {
	var seed [8]byte
	_, _ = rand.Read(seed[:])
	srv, err := jumiotest.NewUnstartedServer(jumiotest.Config{
		// A new seed each start: generated ids never repeat those of an
		// earlier run.
		Scenario:      jumiotest.Scenario{Seed: binary.LittleEndian.Uint64(seed[:])},
		CompleteAfter: simulatorCompleteAfter,
		CallbackURL:   callbackURL,
	})
	if err != nil {
		return nil, err
	}
	s := &localSimulator{Server: srv, path: filepath.Join(dir, simulatorFile)}
	if err := s.load(); err != nil {
		return nil, err
	}
	// The Platform sample of "kycflow send --samples" is known too.
	for _, d := range sampleDetails() {
		if _, err := srv.AddDetails(d); err != nil {
			return nil, fmt.Errorf("simulator: sample: %w", err)
		}
	}
	s.saved = srv.Changes()
	if err := srv.Start(addr); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *localSimulator) load() error {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("simulator state: %w", err)
	}
	var st simulatorState
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("simulator state %s: %w", s.path, err)
	}
	for _, e := range st.Executions {
		if err := s.AddExecution(e); err != nil {
			return fmt.Errorf("simulator state %s: %w", s.path, err)
		}
	}
	for _, sc := range st.NetverifyScans {
		if err := s.AddNetverifyScan(sc); err != nil {
			return fmt.Errorf("simulator state %s: %w", s.path, err)
		}
	}
	return nil
}

// save writes the executions when they changed since the last save.
func (s *localSimulator) save() error {
	n := s.Changes()
	if n == s.saved {
		return nil
	}
	st := simulatorState{Executions: s.Executions(), NetverifyScans: s.NetverifyScans()}
	if err := writeFileAtomic(s.path, st); err != nil {
		return fmt.Errorf("simulator state: %w", err)
	}
	s.saved = n
	return nil
}

// keepSaved saves the executions a moment after they change, until ctx
// ends, and once more then.
func (s *localSimulator) keepSaved(ctx context.Context) error {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return s.save()
		case <-t.C:
			if err := s.save(); err != nil {
				return err
			}
		}
	}
}
