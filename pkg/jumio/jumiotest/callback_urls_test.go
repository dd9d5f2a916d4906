package jumiotest_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

func TestResolveCallbackURLs(t *testing.T) {
	const (
		p    = "http://127.0.0.1:8080/callbacks/platform"
		n    = "http://127.0.0.1:8080/callbacks/netverify"
		pSeg = "https://kyc.example.com/in/callbacks/platform/s3cr3t-segment"
		nSeg = "https://kyc.example.com/in/callbacks/netverify/s3cr3t-segment"
	)
	for _, tc := range []struct {
		name                string
		platform, netverify string
		wantP, wantN        string
	}{
		{"platform gives netverify", p, "", p, n},
		{"with a segment and a prefix", pSeg, "", pSeg, nSeg},
		{"netverify gives platform", "", nSeg, pSeg, nSeg},
		{"a lone netverify URL moves", n, "", p, n},
		{"both given stay", p, "http://other/hook", p, "http://other/hook"},
		{"a receiver of its own", "http://127.0.0.1:9000/hook", "", "http://127.0.0.1:9000/hook", ""},
		{"the wrong path", "http://127.0.0.1:8080/jumio/callback/x", "", "http://127.0.0.1:8080/jumio/callback/x", ""},
		{"a trailing slash", p + "/", "", p + "/", ""},
		{"two segments", p + "/a/b", "", p + "/a/b", ""},
		{"neither", "", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gotP, gotN := jumiotest.ResolveCallbackURLs(tc.platform, tc.netverify)
			if diff := cmp.Diff([]string{tc.wantP, tc.wantN}, []string{gotP, gotN}); diff != "" {
				t.Errorf("ResolveCallbackURLs(%q, %q) (-want +got):\n%s", tc.platform, tc.netverify, diff)
			}
		})
	}
}

func TestIngestCallbackURL(t *testing.T) {
	for _, tc := range []struct {
		url     string
		api     events.API
		segment bool
		ok      bool
	}{
		{"http://h/callbacks/platform", events.APIPlatform, false, true},
		{"http://h/callbacks/netverify/seg", events.APINetverify, true, true},
		{"http://h/callbacks/other", "", false, false},
		{"http://h/", "", false, false},
		{"::", "", false, false},
	} {
		api, seg, ok := jumiotest.IngestCallbackURL(tc.url)
		if api != tc.api || seg != tc.segment || ok != tc.ok {
			t.Errorf("IngestCallbackURL(%q) = %q, %v, %v; want %q, %v, %v", tc.url, api, seg, ok, tc.api, tc.segment, tc.ok)
		}
	}
}

// TestSendCallbacksToIngestPaths: given the Platform URL of an endpoint
// laid out as kycflow ingest is, Netverify callbacks go to its Netverify
// path, each API's with its content type.
func TestSendCallbacksToIngestPaths(t *testing.T) {
	srv := jumiotest.NewServer(jumiotest.Config{Scenario: jumiotest.Scenario{Seed: 3, Executions: 2, NetverifyScans: 2}})
	defer srv.Close()
	var mu sync.Mutex
	got := map[string]int{}
	rs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.URL.Path+" "+r.Header.Get("Content-Type")]++
		mu.Unlock()
	}))
	defer rs.Close()
	for _, o := range []jumiotest.CallbackOptions{
		{URL: rs.URL + "/callbacks/platform/segment-0123456789"},
		{NetverifyURL: rs.URL + "/callbacks/netverify/segment-0123456789"},
	} {
		sent, err := srv.SendCallbacks(t.Context(), o)
		if err != nil || len(sent) != 4 {
			t.Fatalf("%+v: sent %d, %v; want 4", o, len(sent), err)
		}
	}
	want := map[string]int{
		"/callbacks/platform/segment-0123456789 application/json":                   4,
		"/callbacks/netverify/segment-0123456789 application/x-www-form-urlencoded": 4,
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("received by path (-want +got):\n%s", diff)
	}
}
