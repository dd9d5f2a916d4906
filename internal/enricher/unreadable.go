package enricher

import (
	"context"
	"regexp"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/kycflow/kycflow/pkg/events"
)

// fieldRE is what a field name may look like on a metric: Jumio's field
// names and paths. Anything else is counted as "other", so that an odd
// name can neither hold data nor grow the metric without bound.
var fieldRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.]{0,79}$`)

// unreadable counts and logs, with ids only, the fields of a published
// result that carry a verification outcome and could not be read: the
// result went out as a manual review
// (docs/architecture.md#an-unreadable-verdict-field-is-a-manual-review), and
// an operator should know why.
func (e *Enricher) unreadable(ctx context.Context, c *callback, r events.Result) {
	if len(r.UnreadableFields) == 0 {
		return
	}
	mctx := context.WithoutCancel(ctx)
	fields := make([]string, 0, len(r.UnreadableFields))
	for _, f := range r.UnreadableFields {
		if !fieldRE.MatchString(f) {
			f = "other"
		}
		fields = append(fields, f)
		e.metrics.unreadable.Add(mctx, 1, metric.WithAttributes(attribute.String("api", string(c.ev.API)), attribute.String("field", f)))
	}
	e.logger.WarnContext(ctx, "result has unreadable fields: sent for manual review, never passed",
		"event_id", c.ev.EventID, "account_id", c.ev.AccountID, "workflow_execution_id", c.ev.WorkflowExecutionID,
		"fields", fields, "decision", string(r.Decision.Type))
}
