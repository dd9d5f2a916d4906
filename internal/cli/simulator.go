package cli

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
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
	if err := startAt(srv, dir, addr); err != nil {
		return nil, err
	}
	return s, nil
}

// simulatorAddrFile keeps, in the data directory, the address the
// simulator last listened on.
const simulatorAddrFile = "simulator.addr"

// startAt starts srv on addr. With port 0 (any free port) it takes the
// port of the last start of this data directory again when it is free:
// the results carry the simulator's URL (image and steps links), and a
// new port at every start would make every result of a replay look
// changed, so that a replay without --redeliver sent them all out again.
func startAt(srv *jumiotest.Server, dir, addr string) error {
	path := filepath.Join(dir, simulatorAddrFile)
	if _, port, err := net.SplitHostPort(addr); err == nil && port == "0" {
		if b, err := os.ReadFile(path); err == nil {
			if last := strings.TrimSpace(string(b)); last != "" && srv.Start(last) == nil {
				return nil
			}
		}
	}
	if err := srv.Start(addr); err != nil {
		return err
	}
	if u, err := url.Parse(srv.URL()); err == nil {
		_ = os.WriteFile(path, []byte(u.Host+"\n"), 0o600) // a convenience: a new port next time otherwise
	}
	return nil
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
