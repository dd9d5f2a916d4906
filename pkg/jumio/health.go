package jumio

import (
	"context"
	"net/http"

	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// Health reads Jumio's status endpoint (GET https://status.{region}.jumio.ai,
// no credentials): the overall status and one per component, UP, DEGRADED
// or DOWN. It is limited to one request per second per Client and tried
// once per attempt budget like the retrieval calls; errors are as for
// them. Callers should treat a failure as "unknown", not as DOWN: the
// status page being unreachable says little about the APIs.
func (c *Client) Health(ctx context.Context) (*wire.Health, error) {
	cl := call{ep: EndpointHealth, method: http.MethodGet, base: c.cfg.Hosts.Status, path: "/", auth: authNone,
		accept: "application/json", lim: c.health}
	var v wire.Health
	if _, err := c.getJSON(ctx, cl, &v); err != nil {
		return nil, err
	}
	return &v, nil
}
