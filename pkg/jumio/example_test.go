package jumio_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// Retrieve a workflow execution's details after its callback, against the
// simulator: the same code talks to Jumio with the region's hosts and real
// credentials.
func ExampleClient_WorkflowDetails() {
	srv := jumiotest.NewServer(jumiotest.Config{})
	defer srv.Close()
	fixture, _ := os.ReadFile("testdata/platform/details-passed.json")
	exec, _ := srv.AddDetails(fixture)

	c, err := jumio.NewClient(jumio.Config{
		Hosts:        srv.Hosts(), // omit for Jumio: Region picks the hosts
		ClientID:     jumiotest.DefaultClientID,
		ClientSecret: jumiotest.DefaultClientSecret,
		UserAgent:    "ExampleCorp Onboarding/1.0",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	details, raw, err := c.WorkflowDetails(ctx, exec.AccountID, exec.ID)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(details.Workflow.Status, details.Decision.Type, *details.Decision.RiskScore(), len(raw) > 0)

	// A 404 right after the callback means "not ready yet": retry later.
	srv.NotReady(exec.ID, 1, time.Time{})
	_, _, err = c.WorkflowDetails(ctx, exec.AccountID, exec.ID)
	now := time.Now()
	callbackSentAt := now.Add(-5 * time.Second)
	err = jumio.NotReadyIfRecent(err, callbackSentAt, now, jumio.DefaultNotReadyWindow)
	fmt.Println(errors.Is(err, jumio.ErrNotReady), jumio.Classify(err))
	// Output:
	// PROCESSED PASSED 12.5 true
	// true retry_after(35s)
}

// Bulk work waits in its own lane: a migration's requests go after live
// callbacks' and share what they leave with the other bulk lanes by
// weight.
func ExampleWithLane() {
	ctx := jumio.WithLane(context.Background(), jumio.LaneMigrate)
	fmt.Println(jumio.LaneFrom(ctx), jumio.LaneFrom(context.Background()))
	w, err := jumio.ParseLaneWeights("migrate=3")
	fmt.Println(jumio.FormatLaneWeights(w), err)
	// Output:
	// migrate live
	// reconcile=4,replay=2,migrate=3 <nil>
}
