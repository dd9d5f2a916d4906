package mapping

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// ErrInvalidTable is returned (wrapped) by ParseProducts and ParseWorkflows
// for text that is not a table.
var ErrInvalidTable = errors.New("mapping: invalid table")

// Tables are the tenant-specific parts of the mapping: which product a
// workflow definition key is, and which Platform workflow key replaces a
// Netverify workflowId. DefaultTables holds the keys Jumio documents
// (docs/jumio.md 6.2); tenants with their own workflows override or extend it.
//
// A Tables is immutable: With* return a new one. A nil *Tables is the
// default table. It is safe for concurrent use.
type Tables struct {
	products  map[string]string
	workflows map[int]int
}

// productRow is one built-in product.
type productRow struct {
	key, name, source string
}

// netverifyProductKey is the product table key of a Netverify result of
// kind k, which has no workflow definition key.
func netverifyProductKey(k events.CallbackKind) string { return "netverify." + string(k) }

// defaultProducts are the workflow definition keys Jumio documents, and one
// entry per Netverify callback kind.
var defaultProducts = []productRow{
	{"1", "ID Capture and Storage", "Platform API guide"},
	{"2", "ID Verification", "Platform API guide, transition guide"},
	{"3", "ID and Identity Verification", "Platform API guide, transition guide"},
	{"5", "Similarity to existing ID", "Platform API guide"},
	{"6", "Standalone Liveness", "Platform API guide"},
	{"9", "Authentication", "Platform API guide"},
	{"16", "Authentication on Premise", "Platform API guide"},
	{"20", "Similarity of Two Images", "Platform API guide"},
	{"32", "ID Verification, Identity Verification, Screening", "Platform API guide"},
	{"10005", "Standalone CPF Validation (BRA)", "KYX guide"},
	{"10006", "Standalone Serpro Biometric", "KYX guide"},
	{"10008", "Standalone DL Verification (AAMVA-USA)", "KYX workflow descriptions"},
	{"10010", "Standalone Watchlist Screening", "KYX guide"},
	{"10011", "Standalone ID and Identity Verification", "KYX guide, Platform API guide"},
	{"10013", "ID and Identity Verification, Screening, Proof of Residency, Address Validation, US DL Verification", "KYX guide"},
	{"10014", "Standalone Authentication", "KYX guide"},
	{"10026", "Standalone Document Verification", "service and workflow reference"},
	{"10163", "ID and Identity Verification (standard service)", "service and workflow reference"},
	{netverifyProductKey(events.KindIDVerification), "Netverify ID Verification", "Netverify callBackType NETVERIFYID"},
	{netverifyProductKey(events.KindAuthentication), "Netverify Authentication", "Netverify callBackType NETVERIFY_AUTHENTICATION"},
	{netverifyProductKey(events.KindDocumentVerification), "Netverify Document Verification", "Netverify document verification callback"},
}

// workflowRow is one Netverify workflowId and its built-in Platform key.
type workflowRow struct {
	id      int
	key     int
	product string
	// capture is what the workflowId said about the capture method, which
	// the Platform sets in the Portal instead ("" for camera and upload).
	capture string
}

// defaultWorkflows maps the Netverify /initiate workflowIds to the v3
// Platform keys of the same product (docs/jumio.md 6.1, 6.2). ID and Identity
// tenants on KYX workflows use 10011 or 10163 instead of 3: override with
// WithWorkflows.
var defaultWorkflows = []workflowRow{
	{100, 2, "ID Verification", ""},
	{101, 2, "ID Verification", "camera only"},
	{102, 2, "ID Verification", "upload only"},
	{200, 3, "ID and Identity Verification", ""},
	{201, 3, "ID and Identity Verification", "camera only"},
	{202, 3, "ID and Identity Verification", "upload only"},
}

var builtin = func() *Tables {
	t := &Tables{products: map[string]string{}, workflows: map[int]int{}}
	for _, p := range defaultProducts {
		t.products[p.key] = p.name
	}
	for _, w := range defaultWorkflows {
		t.workflows[w.id] = w.key
	}
	return t
}()

// DefaultTables returns the built-in tables.
func DefaultTables() *Tables { return builtin }

func (t *Tables) orDefault() *Tables {
	if t == nil {
		return builtin
	}
	return t
}

// WithProducts returns a copy of t with the products of m added or
// replacing t's; a key mapped to "" removes that product. Keys are
// workflow definition keys ("10011"), or "netverify.id_verification",
// "netverify.authentication" and "netverify.document_verification" for
// Netverify results.
func (t *Tables) WithProducts(m map[string]string) *Tables {
	t = t.orDefault()
	out := &Tables{products: maps.Clone(t.products), workflows: t.workflows}
	for k, v := range m {
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if v == "" {
			delete(out.products, k)
			continue
		}
		out.products[k] = v
	}
	return out
}

// WithWorkflows returns a copy of t with the Netverify workflowId → Platform
// workflow key entries of m added or replacing t's; a key mapped to 0
// removes that entry.
func (t *Tables) WithWorkflows(m map[int]int) *Tables {
	t = t.orDefault()
	out := &Tables{products: t.products, workflows: maps.Clone(t.workflows)}
	for id, key := range m {
		if key == 0 {
			delete(out.workflows, id)
			continue
		}
		out.workflows[id] = key
	}
	return out
}

// Product returns the product name of a workflow definition key, or "".
func (t *Tables) Product(key string) string {
	return t.orDefault().products[strings.TrimSpace(key)]
}

// WorkflowKey returns the Platform workflow definition key that replaces a
// Netverify workflowId, and whether there is one.
func (t *Tables) WorkflowKey(workflowID int) (int, bool) {
	k, ok := t.orDefault().workflows[workflowID]
	return k, ok
}

// ParseProducts reads a product table from configuration: either
// "key=name" pairs separated by commas ("10011=ID and Identity,
// 10013=Full KYC") or a JSON object ({"10011": "ID and Identity"}) for
// names that hold commas. An empty name removes a built-in product (see
// WithProducts). Empty text is an empty table. Errors wrap ErrInvalidTable.
func ParseProducts(s string) (map[string]string, error) {
	return pairs(s, "products", "key=name")
}

// ParseWorkflows reads Netverify workflowId → Platform workflow key
// overrides from configuration: "200=10011,201=10011" or a JSON object
// ({"200": 10011}). A key of 0 removes a built-in entry. Errors wrap
// ErrInvalidTable.
func ParseWorkflows(s string) (map[int]int, error) {
	raw, err := pairs(s, "workflows", "workflowId=key")
	if err != nil {
		return nil, err
	}
	out := make(map[int]int, len(raw))
	for k, v := range raw {
		id, err1 := strconv.Atoi(k)
		key, err2 := strconv.Atoi(v)
		if err1 != nil || err2 != nil || id < 0 || key < 0 {
			return nil, fmt.Errorf("%w: workflows: entry %q is not workflowId=key", ErrInvalidTable, k)
		}
		out[id] = key
	}
	return out, nil
}

// pairs reads "k=v,k=v" or a JSON object of strings or numbers; keys and
// values are trimmed and keys must not be empty.
func pairs(s, what, form string) (map[string]string, error) {
	s = strings.TrimSpace(s)
	out := map[string]string{}
	if s == "" {
		return out, nil
	}
	if strings.HasPrefix(s, "{") {
		var m map[string]wire.String
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			return nil, fmt.Errorf("%w: %s: not a JSON object of %s pairs", ErrInvalidTable, what, form)
		}
		for k, v := range m {
			out[strings.TrimSpace(k)] = strings.TrimSpace(string(v))
		}
	} else {
		for i, pair := range strings.Split(s, ",") {
			k, v, ok := strings.Cut(pair, "=")
			if !ok {
				return nil, fmt.Errorf("%w: %s: entry %d is not %s", ErrInvalidTable, what, i+1, form)
			}
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if _, ok := out[""]; ok {
		return nil, fmt.Errorf("%w: %s: empty key", ErrInvalidTable, what)
	}
	return out, nil
}
