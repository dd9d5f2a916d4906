package jumio

import (
	"context"
	"net/http"
	"regexp"

	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

var netverifyClassifierRE = regexp.MustCompile(`^[a-z]{1,16}$`)

func (c *Client) netverifyCall(ep Endpoint, scanReference, suffix string) (call, error) {
	if !wire.ValidID(scanReference) {
		return call{}, invalid(ep, "scan reference is not a UUID")
	}
	return call{ep: ep, method: http.MethodGet, base: c.cfg.Hosts.Netverify,
		path: PathNetverifyScans + "/" + scanReference + suffix,
		auth: authNetverify, accept: "application/json", lim: c.retrieval}, nil
}

func netverifyGet[T any](ctx context.Context, c *Client, ep Endpoint, scanReference, suffix string) (*T, []byte, error) {
	cl, err := c.netverifyCall(ep, scanReference, suffix)
	if err != nil {
		return nil, nil, err
	}
	var v T
	raw, err := c.getJSON(ctx, cl, &v)
	if err != nil {
		return nil, nil, err
	}
	return &v, raw, nil
}

// NetverifyScan returns the status of a Netverify scan
// (GET /api/netverify/v2/scans/{scanReference}): PENDING, DONE or FAILED.
// Jumio recommends polling it until it is no longer PENDING before
// fetching the data, once.
func (c *Client) NetverifyScan(ctx context.Context, scanReference string) (*wire.NetverifyScanStatus, error) {
	v, _, err := netverifyGet[wire.NetverifyScanStatus](ctx, c, EndpointNetverifyScan, scanReference, "")
	return v, err
}

// NetverifyData returns all data of a scan (…/scans/{ref}/data), decoded
// and as the JSON document Jumio sent (personal data: store it, never log
// it).
func (c *Client) NetverifyData(ctx context.Context, scanReference string) (*wire.NetverifyData, []byte, error) {
	return netverifyGet[wire.NetverifyData](ctx, c, EndpointNetverifyData, scanReference, "/data")
}

// NetverifyDocument returns the document data of a scan
// (…/scans/{ref}/data/document).
func (c *Client) NetverifyDocument(ctx context.Context, scanReference string) (*wire.NetverifyDataDocument, error) {
	v, _, err := netverifyGet[wire.NetverifyDataDocument](ctx, c, EndpointNetverifyDocument, scanReference, "/data/document")
	return v, err
}

// NetverifyTransaction returns the transaction data of a scan
// (…/scans/{ref}/data/transaction).
func (c *Client) NetverifyTransaction(ctx context.Context, scanReference string) (*wire.NetverifyDataTransaction, error) {
	v, _, err := netverifyGet[wire.NetverifyDataTransaction](ctx, c, EndpointNetverifyTransaction, scanReference, "/data/transaction")
	return v, err
}

// NetverifyVerification returns the verification data of a scan
// (…/scans/{ref}/data/verification).
func (c *Client) NetverifyVerification(ctx context.Context, scanReference string) (*wire.NetverifyVerification, error) {
	v, _, err := netverifyGet[wire.NetverifyVerification](ctx, c, EndpointNetverifyVerification, scanReference, "/data/verification")
	return v, err
}

// NetverifyImages lists the images of a scan (…/scans/{ref}/images).
func (c *Client) NetverifyImages(ctx context.Context, scanReference string) (*wire.NetverifyImages, error) {
	v, _, err := netverifyGet[wire.NetverifyImages](ctx, c, EndpointNetverifyImages, scanReference, "/images")
	return v, err
}

// NetverifyImage streams one image of a scan (…/scans/{ref}/images/{classifier},
// classifier front, face or back). The content is personal data.
func (c *Client) NetverifyImage(ctx context.Context, scanReference, classifier string) (*Download, error) {
	if !netverifyClassifierRE.MatchString(classifier) {
		return nil, invalid(EndpointNetverifyImage, "classifier is not a lower-case word")
	}
	cl, err := c.netverifyCall(EndpointNetverifyImage, scanReference, "/images/"+classifier)
	if err != nil {
		return nil, err
	}
	cl.accept = "image/jpeg, image/png"
	return c.download(ctx, cl)
}
