package jumiotest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// A simulator with generated executions posts their callbacks to a
// receiver, each once more as a duplicate.
func ExampleServer_SendCallbacks() {
	srv := jumiotest.NewServer(jumiotest.Config{Scenario: jumiotest.Scenario{Seed: 1, Executions: 3}})
	defer srv.Close()
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer receiver.Close()

	sent, err := srv.SendCallbacks(context.Background(), jumiotest.CallbackOptions{URL: receiver.URL, Duplicates: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range sent {
		e, _ := srv.Execution(s.Reference)
		fmt.Println(s.API, e.Outcome, s.Duplicate, s.Status)
	}
	// Output:
	// platform PASSED false 200
	// platform PASSED true 200
	// platform PASSED false 200
	// platform PASSED true 200
	// platform REJECTED false 200
	// platform REJECTED true 200
}
