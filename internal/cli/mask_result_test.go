package cli

import (
	"os"
	"strings"
	"testing"
)

// TestMaskResultFields: the personal data of a result's fields added for
// every documented Jumio field (national ids, parents' names, visa and
// licence details, extra, reporting criteria, client IPs) is masked.
func TestMaskResultFields(t *testing.T) {
	raw, err := os.ReadFile("../../pkg/mapping/testdata/platform-extraction-full.golden.json")
	if err != nil {
		t.Fatal(err)
	}
	got := string(maskPayload(raw))
	for _, personal := range []string{"PUEBLA", "MARIA DOE", "JOSE DOE", "GODE561231HDFRRN09", "987.654.321-00", "90010112345",
		"DNI-1", "RG-55", "V-88", "PX-1", "TOURIST", "INE", "CDMX", "2018-01-01", "campaign-9", "203.0.113.10",
		"r-42/secret", "kept", "24-44"} {
		if strings.Contains(got, personal) {
			t.Errorf("masked result holds %q", personal)
		}
	}
	for _, kept := range []string{"ID_CARD", "NATIONAL_ID", `"MEX"`, "READ_VALIDATED", "APPROVED_VERIFIED", "credentialCategories"} {
		if !strings.Contains(got, kept) {
			t.Errorf("masked result lost %q", kept)
		}
	}
}
