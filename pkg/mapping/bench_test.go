package mapping

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

func BenchmarkFromPlatform(b *testing.B) {
	in := readFile(b, filepath.Join("testdata", "platform-passed.input.details.json"))
	var d wire.WorkflowDetails
	if err := json.Unmarshal(in, &d); err != nil {
		b.Fatal(err)
	}
	ev := platformEvent(b, "platform-passed", &d)
	b.ReportAllocs()
	for b.Loop() {
		_ = FromPlatform(ev, &d, nil)
	}
}

func BenchmarkFromNetverify(b *testing.B) {
	ev, m := netverifyEvent(b, string(readFile(b, filepath.Join("testdata", "netverify-denied-fraud-details-array.input.form"))))
	b.ReportAllocs()
	for b.Loop() {
		_ = FromNetverify(ev, m, nil)
	}
}

func BenchmarkProject(b *testing.B) {
	in := readFile(b, filepath.Join("testdata", "platform-passed.input.details.json"))
	var d wire.WorkflowDetails
	_ = json.Unmarshal(in, &d)
	r := FromPlatform(platformEvent(b, "platform-passed", &d), &d, nil)
	b.ReportAllocs()
	for b.Loop() {
		_ = events.Project(r, events.PolicyNoPII)
	}
}

// BenchmarkDecodeWorkflowDetails decodes a workflow details document as
// the enricher receives it from Jumio (wire.WorkflowDetails, field by
// field).
func BenchmarkDecodeWorkflowDetails(b *testing.B) {
	in := readFile(b, filepath.Join("testdata", "platform-passed.input.details.json"))
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		var d wire.WorkflowDetails
		if err := json.Unmarshal(in, &d); err != nil {
			b.Fatal(err)
		}
	}
}
