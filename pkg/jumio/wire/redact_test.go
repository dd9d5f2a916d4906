package wire_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// fill sets every string reachable from v to a marker naming its path
// ("pii:Document.FirstName:"), every slice and map to one filled element,
// and every json.RawMessage to a JSON object holding a marker.
func fill(v reflect.Value, path string) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("pii:" + path + ":")
	case reflect.Interface:
		v.Set(reflect.ValueOf("pii:" + path + ":"))
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), path)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[wire.Time]() || v.Type() == reflect.TypeFor[time.Time]() {
			return
		}
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() {
				fill(v.Field(i), strings.TrimPrefix(path+"."+f.Name, "."))
			}
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte(`{"firstName":"pii:` + path + `:"}`))
			return
		}
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fill(s.Index(0), path+"[0]")
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		e := reflect.New(v.Type().Elem()).Elem()
		fill(e, path+"[k]")
		m.SetMapIndex(reflect.ValueOf("k").Convert(v.Type().Key()), e)
		v.Set(m)
	}
}

var markerRE = regexp.MustCompile(`pii:[A-Za-z0-9_.\[\]]*:`)

// TestTypesWithPersonalDataRedactThemselves fills every string of each
// type that holds personal data, links or tokens with a marker, then logs
// it with slog's JSON handler and prints it with %v, %+v, %#v and %s, as a
// value and through a pointer: only the markers of the fields the type
// names as loggable (ids, statuses, decisions, document types) may appear.
func TestTypesWithPersonalDataRedactThemselves(t *testing.T) {
	for _, tc := range []struct {
		v       any
		allowed []string
	}{
		{&wire.NetverifyCallback{}, []string{"ScanReference", "VerificationStatus", "IDScanStatus"}},
		{&wire.NetverifyAddress{}, nil},
		{&wire.NetverifyAuthCallback{}, []string{"TransactionReference", "TransactionResult"}},
		{&wire.NetverifyDocumentCallback{}, []string{"ScanReference", "Transaction.Status", "Document.Status", "Document.Type", "Document.Country"}},
		{&wire.NetverifyDocument{}, []string{"Status", "Type", "Country"}},
		{&wire.WorkflowDetails{}, []string{"Account.ID", "Workflow.ID", "Workflow.DefinitionKey", "Workflow.Status", "Decision.Type"}},
		{&wire.Credential{}, []string{"ID", "Category"}},
		{&wire.CredentialPart{}, []string{"Classifier"}},
		{&wire.CapabilityEntry{}, []string{"ID", "Decision.Type", "Decision.Details.Label"}},
		{&wire.ExtractionData{}, []string{"Type", "SubType", "IssuingCountry"}},
		{&wire.NetverifyData{}, []string{"ScanReference", "Document.Status", "Document.Type", "Document.IssuingCountry", "Transaction.Status"}},
		{&wire.NetverifyDataDocument{}, []string{"Status", "Type", "IssuingCountry"}},
		{&wire.NetverifyDataTransaction{}, []string{"Status", "Source"}},
		{&wire.NetverifyVerification{}, []string{"ScanReference", "MRZCheck", "RejectReason.Code"}},
		{&wire.NetverifyImages{}, []string{"ScanReference"}},
		{&wire.NetverifyImage{}, []string{"Classifier"}},
		{&wire.DLCategory{}, nil},
		{&wire.IdentityFields{}, nil},
		{&wire.DateParts{}, nil},
		{&wire.AccountRequest{}, nil},
		{&wire.UserConsent{}, nil},
		{&wire.AccountResponse{}, []string{"Account.ID", "WorkflowExecution.ID"}},
		{&wire.AccountCredentialInfo{}, []string{"ID", "Category"}},
		// NetverifyMessage prints its kind and reference only; its
		// Warnings are field names, never values.
		{&wire.NetverifyMessage{}, []string{"Kind", "ID.ScanReference", "ID.VerificationStatus",
			"Auth.TransactionReference", "Auth.TransactionResult", "Document.ScanReference", "Document.Document.Status", "Warnings[0]"}},
	} {
		ptr := reflect.ValueOf(tc.v)
		name := ptr.Type().Elem().Name()
		t.Run(name, func(t *testing.T) {
			fill(ptr.Elem(), "")
			if b, _ := json.Marshal(tc.v); len(markerRE.FindAll(b, -1)) < 2 {
				t.Fatalf("fill left %s without personal values: %s", name, b)
			}
			outputs := map[string]string{}
			for _, x := range []struct {
				how string
				v   any
			}{{"value", ptr.Elem().Interface()}, {"pointer", tc.v}} {
				var buf bytes.Buffer
				slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "v", x.v)
				outputs["slog "+x.how] = buf.String()
				for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
					outputs[verb+" "+x.how] = fmt.Sprintf(verb, x.v)
				}
				outputs["%v in a slice, "+x.how] = fmt.Sprintf("%v", []any{x.v})
			}
			for how, out := range outputs {
				for _, m := range markerRE.FindAllString(out, -1) {
					if !slices.Contains(tc.allowed, strings.Trim(strings.TrimPrefix(m, "pii"), ":")) {
						t.Errorf("%s prints %s", how, m)
					}
				}
			}
		})
	}
}
