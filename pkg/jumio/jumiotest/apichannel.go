package jumiotest

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"image"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// acquisition is the state of one workflow execution created through the
// Account API: its credentials, what the API channel uploaded, and how it
// ends. s.mu guards it.
type acquisition struct {
	tenant      *tenantState
	token       string
	credentials []*acqCredential
	created     time.Time
	lifetime    time.Duration
	opts        execOpts
	target      string // callback URL
	// touched: the API channel was used (an upload or a finalization), so
	// the web client's simulated completion (CompleteAfter after creation)
	// does not apply; finalization completes it instead.
	touched   bool
	finalized bool
	// ended: completed or expired; no more uploads or completions.
	ended bool
}

type acqCredential struct {
	id, category string
	parts        map[string]acqPart
}

// acqPart is one uploaded part.
type acqPart struct {
	contentType string
	data        []byte
	// gray: every pixel of the image is grey (a black-and-white copy).
	gray bool
}

// credentialCategories are the credentials of a new execution: ID (plus
// SELFIE and FACEMAP for workflows with a liveness check), and any other
// category the request names (DATA, DOCUMENT); the request's credentials
// otherwise only constrain country and type, as at Jumio.
func credentialCategories(req wire.AccountRequest, key string) []string {
	cats := []string{wire.CategoryID}
	if slices.Contains(capabilitiesOf(key), "liveness") {
		cats = append(cats, wire.CategorySelfie, wire.CategoryFacemap)
	}
	for _, c := range req.WorkflowDefinition.Credentials {
		if c.Category != "" && !slices.Contains(cats, strings.ToUpper(c.Category)) {
			cats = append(cats, strings.ToUpper(c.Category))
		}
	}
	return cats
}

// apiParts are the API-channel parts of a credential category, as the
// Account API lists them (lower case keys of api.parts).
var apiParts = map[string][]string{
	wire.CategoryID:     {wire.ClassifierFront, wire.ClassifierBack},
	wire.CategorySelfie: {wire.ClassifierFace},
	wire.CategoryData:   {wire.ClassifierPreparedData},
}

// credentialsJSON is the workflowExecution.credentials of the Account
// API's response.
func (s *Server) credentialsJSON(accountID, id string, a *acquisition) []any {
	base := s.url + jumio.PathAccounts + "/" + accountID + "/workflow-executions/" + id
	var out []any
	for _, c := range a.credentials {
		cls, api := apiParts[c.category]
		if !api {
			out = append(out, map[string]any{"id": c.id, "category": c.category, "allowedChannels": []string{"WEB", "SDK"}})
			continue
		}
		parts := map[string]string{}
		for _, p := range cls {
			parts[strings.ToLower(p)] = base + "/credentials/" + c.id + "/parts/" + p
		}
		out = append(out, map[string]any{"id": c.id, "category": c.category, "allowedChannels": []string{"WEB", "API", "SDK"},
			"api": map[string]any{"token": a.token, "parts": parts, "workflowExecution": base}})
	}
	return out
}

var lifetimeRE = regexp.MustCompile(`^[+]?(\d+)([smhd])$`)

// tokenLifetime reads an account request's tokenLifetime (default 30m,
// Jumio's).
func tokenLifetime(s string) time.Duration {
	m := lifetimeRE.FindStringSubmatch(s)
	if m == nil {
		return 30 * time.Minute
	}
	n, _ := strconv.Atoi(m[1])
	unit := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}[m[2]]
	return time.Duration(n) * unit
}

// MaxUploadBytes bounds an upload request body: the 5 MB image plus the
// multipart envelope. A larger body is answered 413 before it is read.
const MaxUploadBytes = wire.MaxImageBytes + 64<<10

// acquisitionFor finds the acquisition of the request's execution and
// checks its transaction token; it writes the error answer itself.
func (s *Server) acquisitionFor(w http.ResponseWriter, r *http.Request) (*acquisition, string, bool) {
	id, accountID := r.PathValue("id"), r.PathValue("accountId")
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	// Answers are written with s.mu released: the status recorder counts
	// under it.
	s.mu.Lock()
	a, ok := s.acquisitions[id]
	found := ok && s.executions[id] != nil && s.executions[id].AccountID == accountID
	valid := found && tok != "" && equal(tok, a.token)
	expired := found && a.ended && !a.finalized
	s.mu.Unlock()
	switch {
	case !found:
		problem(w, http.StatusNotFound, "Workflow execution not found")
		return nil, "", false
	case !valid:
		w.Header().Set("WWW-Authenticate", "Bearer")
		problem(w, http.StatusUnauthorized, "Missing or invalid transaction token")
		return nil, "", false
	case expired:
		w.Header().Set("WWW-Authenticate", "Bearer")
		problem(w, http.StatusUnauthorized, "Transaction token expired")
		return nil, "", false
	}
	return a, id, true
}

// handleUpload serves an API-channel part upload (POST
// …/workflow-executions/{id}/credentials/{credentialId}/parts/{classifier}),
// checking what Jumio documents: the credential belongs to the execution,
// the classifier to the credential's category, nothing after
// finalization, BACK only after FRONT, a multipart "file" that is a JPEG or
// PNG of at most 5 MB and 8000 × 8000 pixels, or for PREPARED_DATA a JSON
// object.
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request, _ *tenantState) {
	a, id, ok := s.acquisitionFor(w, r)
	if !ok {
		return
	}
	credID, cls := r.PathValue("credentialId"), r.PathValue("classifier")
	s.mu.Lock()
	var cred *acqCredential
	for _, c := range a.credentials {
		if c.id == credID {
			cred = c
		}
	}
	finalized := a.finalized
	var hasFront bool
	if cred != nil {
		_, hasFront = cred.parts[wire.ClassifierFront]
	}
	s.mu.Unlock()
	switch {
	case cred == nil:
		problem(w, http.StatusNotFound, "Credential not found")
		return
	case finalized:
		problem(w, http.StatusBadRequest, "Workflow execution already finalized")
		return
	case !slices.Contains(apiParts[cred.category], cls):
		problem(w, http.StatusBadRequest, "Classifier not allowed for this credential")
		return
	case cls == wire.ClassifierBack && !hasFront:
		problem(w, http.StatusBadRequest, "FRONT must be uploaded before BACK")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxUploadBytes)
	var part acqPart
	if cls == wire.ClassifierPreparedData {
		var d wire.PreparedData
		b, err := io.ReadAll(r.Body)
		if err != nil {
			problem(w, http.StatusRequestEntityTooLarge, "Request body too large")
			return
		}
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" || json.Unmarshal(b, &d) != nil || d.Validate() != nil {
			problem(w, http.StatusBadRequest, "PREPARED_DATA is not valid prepared data JSON")
			return
		}
		part = acqPart{contentType: "application/json", data: b}
	} else {
		data, status, detail := readUploadFile(r)
		if status != 0 {
			problem(w, status, detail)
			return
		}
		info, err := wire.CheckImage(data)
		switch {
		case errors.Is(err, wire.ErrImageTooLarge):
			problem(w, http.StatusBadRequest, "File larger than 5 MB")
			return
		case errors.Is(err, wire.ErrImageDimensions):
			problem(w, http.StatusBadRequest, "Image larger than 8000 x 8000")
			return
		case err != nil:
			problem(w, http.StatusBadRequest, "File is not a JPEG or PNG image")
			return
		}
		part = acqPart{contentType: info.ContentType, data: data, gray: grayImage(data)}
	}
	now := time.Now().UTC()
	s.mu.Lock()
	a.touched = true
	cred.parts[cls] = part
	accountID := s.executions[id].AccountID
	s.partData[accountID+"/"+cred.id+"/"+cls] = content{part.contentType, part.data}
	s.mu.Unlock()
	writeJSON(w, channelResponse(now, accountID, id))
}

// readUploadFile reads the multipart field "file"; status is 0 when it
// was read, else the answer to give.
func readUploadFile(r *http.Request) (data []byte, status int, detail string) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return nil, http.StatusBadRequest, "Content-Type must be multipart/form-data"
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, http.StatusRequestEntityTooLarge, "Request body too large"
			}
			return nil, http.StatusBadRequest, "Multipart field \"file\" missing"
		}
		if p.FormName() != "file" {
			continue
		}
		b, err := io.ReadAll(p)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, http.StatusRequestEntityTooLarge, "Request body too large"
			}
			return nil, http.StatusBadRequest, "Multipart body malformed"
		}
		return b, 0, ""
	}
}

// grayImage reports whether every pixel of an image is grey (R = G = B);
// an image that does not decode is not.
func grayImage(b []byte) bool {
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return false
	}
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r>>8 != g>>8 || g>>8 != bl>>8 {
				return false
			}
		}
	}
	return true
}

// handleFinalize serves finalization (PUT …/workflow-executions/{id}):
// every credential on the API channel must have its required part (FRONT
// for ID, FACE for SELFIE, PREPARED_DATA for DATA). The execution turns
// ACQUIRED and completes CompleteAPIAfter later with an outcome derived
// from the uploads (see derive). Finalizing again answers the same.
func (s *Server) handleFinalize(w http.ResponseWriter, r *http.Request, _ *tenantState) {
	a, id, ok := s.acquisitionFor(w, r)
	if !ok {
		return
	}
	now := time.Now().UTC()
	s.mu.Lock()
	accountID := s.executions[id].AccountID
	if a.finalized {
		s.mu.Unlock()
		writeJSON(w, channelResponse(now, accountID, id))
		return
	}
	for _, c := range a.credentials {
		need := map[string]string{wire.CategoryID: wire.ClassifierFront, wire.CategorySelfie: wire.ClassifierFace,
			wire.CategoryData: wire.ClassifierPreparedData}[c.category]
		if _, ok := c.parts[need]; need != "" && !ok {
			s.mu.Unlock()
			problem(w, http.StatusBadRequest, "Credential "+c.category+" has no "+need+" part")
			return
		}
	}
	a.touched, a.finalized = true, true
	e := s.executions[id]
	acquired := *e
	acquired.Status = "ACQUIRED"
	acquired.Details = setWorkflowStatus(e.Details, "ACQUIRED")
	acquired.CallbackSentAt = now
	s.addExecution(acquired)
	if s.cfg.CompleteAPIAfter > 0 && !s.closed {
		s.timers = append(s.timers, time.AfterFunc(s.cfg.CompleteAPIAfter, func() { s.completeUploaded(id) }))
	}
	notify := s.cfg.AcquiredCallbacks && a.target != ""
	if notify {
		s.sends.Add(1)
	}
	s.mu.Unlock()
	if notify {
		go func() {
			defer s.sends.Done()
			s.callback(a.target, acquired)
		}()
	}
	writeJSON(w, channelResponse(now, accountID, id))
}

func channelResponse(now time.Time, accountID, id string) []byte {
	b, _ := json.Marshal(map[string]any{"timestamp": ts(now), "account": map[string]string{"id": accountID},
		"workflowExecution": map[string]string{"id": id}})
	return b
}

// setWorkflowStatus returns details with workflow.status replaced.
func setWorkflowStatus(details []byte, status string) []byte {
	var d map[string]json.RawMessage
	if json.Unmarshal(details, &d) != nil {
		return details
	}
	var wf map[string]any
	if json.Unmarshal(d["workflow"], &wf) != nil {
		return details
	}
	wf["status"] = status
	d["workflow"], _ = json.Marshal(wf)
	out, _ := json.Marshal(d)
	return out
}

// derive is the outcome of a finalized acquisition, from what was
// uploaded:
//
//   - a FRONT, BACK or FACE image that is entirely grey: REJECTED, usability
//     BLACK_WHITE (Jumio refuses black-and-white copies);
//   - otherwise PASSED, WARNING or REJECTED by the Scenario's mix, picked
//     by a hash of the uploaded bytes, so the same uploads always give the
//     same outcome;
//   - the document is an ID_CARD when a BACK was uploaded, else a
//     PASSPORT; PREPARED_DATA's names and date of birth are the holder's.
//
// s.mu is held.
func (s *Server) derive(a *acquisition) (string, execOpts) {
	o := a.opts
	o.docType = "PASSPORT"
	h := sha256.New()
	gray := false
	for _, c := range a.credentials {
		for _, cls := range []string{wire.ClassifierFront, wire.ClassifierBack, wire.ClassifierFace, wire.ClassifierPreparedData} {
			p, ok := c.parts[cls]
			if !ok {
				continue
			}
			h.Write([]byte(cls))
			h.Write(p.data)
			gray = gray || p.gray
			switch cls {
			case wire.ClassifierBack:
				o.docType = "ID_CARD"
			case wire.ClassifierPreparedData:
				var d wire.PreparedData
				if json.Unmarshal(p.data, &d) == nil {
					o.first, o.last, o.dob = strings.ToUpper(d.FirstName), strings.ToUpper(d.LastName), d.DateOfBirth
				}
			}
		}
	}
	if gray {
		o.reject = &struct{ capability, label string }{"usability", "BLACK_WHITE"}
		return OutcomeRejected, o
	}
	m := s.cfg.Scenario.Mix
	if m == (Mix{}) {
		m = DefaultMix
	}
	ws := []weighted{{OutcomePassed, m.Passed}, {OutcomeWarning, m.Warning}, {OutcomeRejected, m.Rejected}}
	total := 0
	for _, w := range ws {
		total += max(w.weight, 0)
	}
	if total == 0 {
		return OutcomePassed, o
	}
	n := int(binary.BigEndian.Uint64(h.Sum(nil)[:8]) % uint64(total))
	for _, w := range ws {
		if n < max(w.weight, 0) {
			return w.name, o
		}
		n -= max(w.weight, 0)
	}
	return OutcomePassed, o
}

// completeUploaded completes a finalized acquisition with the outcome its
// uploads give and posts its callback.
func (s *Server) completeUploaded(id string) {
	s.end(id, func(a *acquisition, accountID string) (Execution, bool) {
		outcome, o := s.derive(a)
		done := s.gen.execution(accountID, id, outcome, a.created, o)
		// The uploads are the parts it serves.
		done.Parts = nil
		for _, c := range a.credentials {
			for cls := range c.parts {
				done.Parts = append(done.Parts, Part{AccountID: accountID, CredentialID: c.id, Classifier: cls})
			}
		}
		return done, true
	})
}

// Expire ends an execution created through the Account API that has not
// completed, as Jumio does when its token or session runs out:
// TOKEN_EXPIRED when nothing was uploaded, SESSION_EXPIRED when the API
// channel was used but not finalized, and posts its callback. It reports
// false for an execution that is unknown or already ended. Executions also
// expire on their own once their tokenLifetime has passed.
func (s *Server) Expire(id string) bool {
	return s.end(id, func(a *acquisition, accountID string) (Execution, bool) {
		if a.finalized {
			return Execution{}, false
		}
		outcome := OutcomeTokenExpired
		if a.touched {
			outcome = OutcomeSessionExpired
		}
		return s.gen.execution(accountID, id, outcome, a.created, a.opts), true
	})
}
