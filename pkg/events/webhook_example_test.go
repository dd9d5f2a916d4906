package events_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/kycflow/kycflow/pkg/events"
)

// A downstream service receiving kycflow's result webhooks: verify the
// signature over the raw body, drop repeats by webhook-id, then decode.
func ExampleVerifyWebhook() {
	// The route's signing secrets, from the service's own secret store.
	// During a rotation list both the old and the new one.
	secrets := []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo="}
	seen := map[string]bool{} // use a shared store with a TTL in production

	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		if err := events.VerifyWebhook(secrets, r.Header, body, events.DefaultWebhookTolerance, time.Now()); err != nil {
			status := http.StatusUnauthorized
			if errors.Is(err, events.ErrWebhookHeader) {
				status = http.StatusBadRequest
			}
			http.Error(w, "unverified webhook", status)
			return
		}
		id := r.Header.Get(events.HeaderWebhookID)
		if seen[id] {
			w.WriteHeader(http.StatusNoContent) // already handled: acknowledge again
			return
		}
		var env events.WebhookEnvelope
		if err := json.Unmarshal(body, &env); err != nil || env.Type != events.WebhookTypeResult {
			http.Error(w, "unexpected payload", http.StatusBadRequest)
			return
		}
		seen[id] = true
		fmt.Println("result", env.Data.IDs.WorkflowExecutionID, env.Data.Decision.Type, "policy", env.Data.Policy)
		w.WriteHeader(http.StatusNoContent)
	})

	// What the notifier sends (here signed by hand for the example).
	body := `{"type":"kycflow.result.v1","timestamp":"2025-01-02T10:00:00Z","data":{"schemaVersion":1,"ids":{"eventId":"e1","workflowExecutionId":"9f2c1e7a"},"source":{"api":"platform"},"status":"PROCESSED","decision":{"type":"PASSED"},"reasons":[],"capabilities":[],"timestamps":{},"policy":"decision_only"}}`
	key, _ := events.ParseWebhookSecret(secrets[0])
	send := func(signature string) int {
		now := time.Now().Unix()
		req := httptest.NewRequest(http.MethodPost, "/hooks/kyc", strings.NewReader(body))
		req.Header.Set(events.HeaderWebhookID, "msg_1")
		req.Header.Set(events.HeaderWebhookTimestamp, strconv.FormatInt(now, 10))
		if signature == "" {
			signature = events.SignWebhook([][]byte{key}, "msg_1", now, []byte(body))
		}
		req.Header.Set(events.HeaderWebhookSignature, signature)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		return rec.Code
	}
	fmt.Println(send(""))
	fmt.Println(send("")) // a retry of the same message
	fmt.Println(send("v1,Zm9yZ2Vk"))
	// Output:
	// result 9f2c1e7a PASSED policy decision_only
	// 204
	// 204
	// 401
}
