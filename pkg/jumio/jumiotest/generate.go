package jumiotest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kycflow/kycflow/pkg/events"
)

// Platform outcomes the generator produces.
const (
	OutcomePassed         = "PASSED"
	OutcomeWarning        = "WARNING"
	OutcomeRejected       = "REJECTED"
	OutcomeSessionExpired = "SESSION_EXPIRED"
	OutcomeTokenExpired   = "TOKEN_EXPIRED"
)

// Netverify outcomes the generator produces: ID verification statuses,
// authentication results (AUTH_…) and document verification (DOCUMENT).
const (
	OutcomeApprovedVerified   = "APPROVED_VERIFIED"
	OutcomeDeniedFraud        = "DENIED_FRAUD"
	OutcomeNotReadable        = "ERROR_NOT_READABLE_ID"
	OutcomeNoIDUploaded       = "NO_ID_UPLOADED"
	OutcomeUnsupportedType    = "DENIED_UNSUPPORTED_ID_TYPE"
	OutcomeAuthPassed         = "AUTH_PASSED"
	OutcomeAuthFailed         = "AUTH_FAILED"
	OutcomeDocumentExtracted  = "DOCUMENT"
	placeholderBase           = "http://jumiotest.invalid"
	generatedTimestampLayout  = "2006-01-02T15:04:05.000Z"
	defaultScenarioStartEpoch = "2024-03-14T10:00:00Z"
)

// Mix weighs the outcomes of generated Platform executions. Zero weights
// leave an outcome out; an all-zero Mix is DefaultMix.
type Mix struct {
	Passed, Warning, Rejected, SessionExpired, TokenExpired int
}

// DefaultMix is 70% passed, 10% warning, 10% rejected, 5% session expired,
// 5% token expired.
var DefaultMix = Mix{Passed: 70, Warning: 10, Rejected: 10, SessionExpired: 5, TokenExpired: 5}

// ParseMix reads "passed=70,warning=10,rejected=10,session_expired=5,token_expired=5".
func ParseMix(s string) (Mix, error) {
	var m Mix
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if !ok || err != nil || n < 0 {
			return Mix{}, fmt.Errorf("jumiotest: mix item %q is not name=weight", item)
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "passed":
			m.Passed = n
		case "warning":
			m.Warning = n
		case "rejected":
			m.Rejected = n
		case "session_expired":
			m.SessionExpired = n
		case "token_expired":
			m.TokenExpired = n
		default:
			return Mix{}, fmt.Errorf("jumiotest: unknown outcome %q in mix", k)
		}
	}
	return m, nil
}

func (m Mix) weights() []weighted {
	if m == (Mix{}) {
		m = DefaultMix
	}
	return []weighted{
		{OutcomePassed, m.Passed}, {OutcomeWarning, m.Warning}, {OutcomeRejected, m.Rejected},
		{OutcomeSessionExpired, m.SessionExpired}, {OutcomeTokenExpired, m.TokenExpired},
	}
}

// NetverifyMix weighs the outcomes of generated Netverify transactions.
// An all-zero NetverifyMix is DefaultNetverifyMix.
type NetverifyMix struct {
	Approved, DeniedFraud, NotReadable, NoIDUploaded, Unsupported int
	AuthPassed, AuthFailed, Document                              int
}

// DefaultNetverifyMix covers every kind of Netverify transaction.
var DefaultNetverifyMix = NetverifyMix{Approved: 50, DeniedFraud: 10, NotReadable: 10, NoIDUploaded: 10,
	Unsupported: 5, AuthPassed: 5, AuthFailed: 5, Document: 5}

func (m NetverifyMix) weights() []weighted {
	if m == (NetverifyMix{}) {
		m = DefaultNetverifyMix
	}
	return []weighted{
		{OutcomeApprovedVerified, m.Approved}, {OutcomeDeniedFraud, m.DeniedFraud}, {OutcomeNotReadable, m.NotReadable},
		{OutcomeNoIDUploaded, m.NoIDUploaded}, {OutcomeUnsupportedType, m.Unsupported},
		{OutcomeAuthPassed, m.AuthPassed}, {OutcomeAuthFailed, m.AuthFailed}, {OutcomeDocumentExtracted, m.Document},
	}
}

type weighted struct {
	name   string
	weight int
}

// Scenario describes generated executions. The same Scenario always
// generates the same executions.
type Scenario struct {
	// Seed makes the scenario deterministic.
	Seed uint64
	// Executions is the number of Platform workflow executions.
	Executions int
	// Mix weighs their outcomes; zero is DefaultMix.
	Mix Mix
	// WorkflowKeys are the workflow definition keys to spread them over;
	// default 10011, 10013, 3, 2.
	WorkflowKeys []string
	// Countries are the ISO alpha-3 issuing countries to spread them over;
	// default a dozen.
	Countries []string
	// Accounts is the number of distinct accounts (default: one per
	// execution); fewer accounts means several executions per account.
	Accounts int
	// NetverifyScans is the number of Netverify transactions.
	NetverifyScans int
	// NetverifyMix weighs their outcomes; zero is DefaultNetverifyMix.
	NetverifyMix NetverifyMix
	// Start is the creation time of the first transaction; default
	// 2024-03-14T10:00:00Z. Transactions are a minute apart.
	Start time.Time
}

// DefaultWorkflowKeys and DefaultCountries are the Scenario defaults.
var (
	DefaultWorkflowKeys = []string{"10011", "10013", "3", "2"}
	DefaultCountries    = []string{"USA", "GBR", "DEU", "FRA", "AUT", "CAN", "ESP", "ITA", "NLD", "BRA", "SGP", "AUS"}
)

// Generate returns the executions and Netverify transactions of a
// scenario. Hrefs point at a placeholder host that a Server replaces with
// its own URL when it serves them.
func Generate(sc Scenario) ([]Execution, []NetverifyScan) {
	g := newGenerator(sc)
	var execs []Execution
	accounts := make([]string, 0, max(sc.Accounts, 0))
	for i := range sc.Executions {
		var acct string
		if sc.Accounts > 0 && len(accounts) >= sc.Accounts {
			acct = accounts[g.rng.IntN(len(accounts))]
		} else {
			acct = g.uuid()
			accounts = append(accounts, acct)
		}
		execs = append(execs, g.execution(acct, g.uuid(), g.pick(sc.Mix.weights()), g.start.Add(time.Duration(i)*time.Minute), execOpts{}))
	}
	var scans []NetverifyScan
	for i := range sc.NetverifyScans {
		scans = append(scans, g.netverify(g.pick(sc.NetverifyMix.weights()), g.start.Add(time.Duration(sc.Executions+i)*time.Minute)))
	}
	return execs, scans
}

type generator struct {
	rng       *rand.Rand
	keys      []string
	countries []string
	start     time.Time
	seq       int
}

func newGenerator(sc Scenario) *generator {
	g := &generator{
		rng:       rand.New(rand.NewPCG(sc.Seed, sc.Seed^0x6b796366_6c6f7721)),
		keys:      sc.WorkflowKeys,
		countries: sc.Countries,
		start:     sc.Start,
	}
	if len(g.keys) == 0 {
		g.keys = DefaultWorkflowKeys
	}
	if len(g.countries) == 0 {
		g.countries = DefaultCountries
	}
	if g.start.IsZero() {
		g.start, _ = time.Parse(time.RFC3339, defaultScenarioStartEpoch)
	}
	return g
}

func (g *generator) pick(ws []weighted) string {
	total := 0
	for _, w := range ws {
		total += max(w.weight, 0)
	}
	if total == 0 {
		return ws[0].name
	}
	n := g.rng.IntN(total)
	for _, w := range ws {
		if n < max(w.weight, 0) {
			return w.name
		}
		n -= max(w.weight, 0)
	}
	return ws[0].name
}

func (g *generator) one(xs []string) string { return xs[g.rng.IntN(len(xs))] }

// uuid returns a random (version 4 shaped) UUID from the seeded source.
func (g *generator) uuid() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(g.rng.UintN(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := fmt.Sprintf("%x", b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func (g *generator) ref(prefix string) string {
	g.seq++
	return fmt.Sprintf("%s-%06d", prefix, g.seq)
}

// Invented names: no real person is meant.
var (
	firstNames = []string{"ALEXA", "BRONN", "CALLA", "DORIEN", "ELSKA", "FENNO", "GALIA", "HOLTE", "IVRA", "JOSKA", "KELVA", "LORIS"}
	lastNames  = []string{"EXAMPLAR", "SAMPLEWOOD", "TESTMARK", "MUSTERBERG", "PLACEHOLM", "FICTORA", "NOWHERE", "IMAGINO"}
	cities     = []string{"SAMPLETOWN", "EXAMPLE CITY", "TESTVILLE", "MOCKBURG"}
	docTypes   = []string{"PASSPORT", "ID_CARD", "DRIVING_LICENSE"}
)

func ts(t time.Time) string { return t.UTC().Format(generatedTimestampLayout) }

type person struct {
	first, last, dob, expiry, issued, number, gender, docType, subType, country, city, postal string
}

func (g *generator) person(country string) person {
	dob := time.Date(1950+g.rng.IntN(50), time.Month(1+g.rng.IntN(12)), 1+g.rng.IntN(28), 0, 0, 0, 0, time.UTC)
	issued := time.Date(2018+g.rng.IntN(5), time.Month(1+g.rng.IntN(12)), 1+g.rng.IntN(28), 0, 0, 0, 0, time.UTC)
	p := person{
		first: g.one(firstNames), last: g.one(lastNames),
		dob: dob.Format(time.DateOnly), issued: issued.Format(time.DateOnly),
		expiry: issued.AddDate(10, 0, 0).Format(time.DateOnly),
		number: fmt.Sprintf("X%08d", g.rng.IntN(100000000)),
		gender: g.one([]string{"F", "M"}), docType: g.one(docTypes), country: country,
		city: g.one(cities), postal: fmt.Sprintf("%05d", g.rng.IntN(100000)),
	}
	p.subType = map[string]string{"PASSPORT": "E_PASSPORT", "ID_CARD": "NATIONAL_ID", "DRIVING_LICENSE": "REGULAR_DRIVING_LICENSE"}[p.docType]
	return p
}

// ---- Platform ----------------------------------------------------------

type genDecision struct {
	Type    string `json:"type"`
	Details struct {
		Label string `json:"label"`
	} `json:"details"`
	Risk *genRisk `json:"risk,omitempty"`
}

type genRisk struct {
	Score float64 `json:"score"`
}

func decision(typ, label string) genDecision {
	d := genDecision{Type: typ}
	d.Details.Label = label
	return d
}

type genCredRef struct {
	ID       string `json:"id"`
	Category string `json:"category"`
}

type genCapability struct {
	ID                            string          `json:"id"`
	ValidFaceMapForAuthentication string          `json:"validFaceMapForAuthentication,omitempty"`
	Credentials                   []genCredRef    `json:"credentials"`
	Decision                      genDecision     `json:"decision"`
	Data                          json.RawMessage `json:"data,omitempty"`
}

type genPart struct {
	Classifier string `json:"classifier"`
	Href       string `json:"href,omitempty"`
}

type genCredential struct {
	ID       string    `json:"id"`
	Category string    `json:"category"`
	Parts    []genPart `json:"parts,omitempty"`
}

type genDetails struct {
	Workflow struct {
		ID                        string `json:"id"`
		Status                    string `json:"status"`
		DefinitionKey             string `json:"definitionKey"`
		UserReference             string `json:"userReference,omitempty"`
		CustomerInternalReference string `json:"customerInternalReference,omitempty"`
	} `json:"workflow"`
	Account struct {
		ID string `json:"id"`
	} `json:"account"`
	CreatedAt    string                     `json:"createdAt"`
	StartedAt    string                     `json:"startedAt,omitempty"`
	CompletedAt  string                     `json:"completedAt,omitempty"`
	Credentials  []genCredential            `json:"credentials"`
	Decision     genDecision                `json:"decision"`
	Steps        map[string]string          `json:"steps,omitempty"`
	Capabilities map[string][]genCapability `json:"capabilities"`
}

// capability dependencies: a failed prerequisite leaves its dependants
// NOT_EXECUTED / PRECONDITION_NOT_FULFILLED.
var dependants = map[string][]string{
	"usability":   {"imageChecks", "extraction", "dataChecks", "similarity", "watchlistScreening"},
	"imageChecks": {"extraction", "dataChecks", "watchlistScreening"},
	"extraction":  {"dataChecks", "watchlistScreening"},
}

var passLabel = map[string]string{"similarity": "MATCH"}

var warnings = []struct{ capability, label string }{
	{"similarity", "NOT_POSSIBLE"}, {"liveness", "AGE_DIFFERENCE"}, {"liveness", "BAD_QUALITY"},
	{"imageChecks", "REPEATED_FACE"}, {"imageChecks", "DIFFERENT_PERSON"},
	{"dataChecks", "DOCUMENT_EXPIRY_WITHIN_CONFIGURED_LIMIT"}, {"watchlistScreening", "ALERT"},
}

var rejections = []struct{ capability, label string }{
	{"usability", "BLURRED"}, {"usability", "GLARE"}, {"usability", "PHOTOCOPY"}, {"usability", "NOT_A_DOCUMENT"},
	{"usability", "MISSING_PAGE"}, {"imageChecks", "MANIPULATED_DOCUMENT_PHOTO"}, {"imageChecks", "FAKE"},
	{"imageChecks", "SAMPLE"}, {"imageChecks", "DIGITAL_COPY"}, {"dataChecks", "MRZ_CHECKSUM"},
	{"dataChecks", "MISMATCHING_DATAPOINTS"}, {"similarity", "NO_MATCH"}, {"liveness", "ID_USED_AS_SELFIE"},
	{"liveness", "MULTIPLE_PEOPLE"},
}

// capabilitiesOf lists a workflow's capabilities in dependency order.
func capabilitiesOf(key string) []string {
	switch key {
	case "2", "1":
		return []string{"usability", "imageChecks", "extraction", "dataChecks"}
	case "10013", "32":
		return []string{"usability", "imageChecks", "extraction", "dataChecks", "liveness", "similarity", "watchlistScreening"}
	}
	return []string{"usability", "imageChecks", "extraction", "dataChecks", "liveness", "similarity"}
}

// execOpts override generated values (for executions initiated through
// the Account API).
type execOpts struct {
	key, userReference, customerInternalReference string
	// docType, first, last and dob replace the generated document type
	// and holder (an API-channel upload says them).
	docType, first, last, dob string
	// reject, when set, is the capability and label of a REJECTED
	// outcome.
	reject *struct{ capability, label string }
}

// execution generates one Platform workflow execution with the outcome.
func (g *generator) execution(accountID, id, outcome string, created time.Time, o execOpts) Execution {
	key := g.one(g.keys)
	if o.key != "" {
		key = o.key
	}
	country := g.one(g.countries)
	p := g.person(country)
	if o.docType != "" {
		p.docType = o.docType
		p.subType = map[string]string{"PASSPORT": "E_PASSPORT", "ID_CARD": "NATIONAL_ID", "DRIVING_LICENSE": "REGULAR_DRIVING_LICENSE"}[p.docType]
	}
	p.first, p.last, p.dob = cmp.Or(o.first, p.first), cmp.Or(o.last, p.last), cmp.Or(o.dob, p.dob)
	caps := capabilitiesOf(key)
	has := func(c string) bool { return slices.Contains(caps, c) }
	selfie := has("liveness")

	var d genDetails
	d.Workflow.ID = id
	d.Workflow.DefinitionKey = key
	d.Workflow.CustomerInternalReference = cmp.Or(o.customerInternalReference, g.ref("txn"))
	d.Workflow.UserReference = cmp.Or(o.userReference, g.ref("usr"))
	d.Account.ID = accountID
	d.CreatedAt = ts(created)
	d.Steps = map[string]string{"href": placeholderBase + "/api/v1/accounts/" + accountID + "/workflow-executions/" + id + "/steps"}

	partHref := func(cred, cls string) string {
		return placeholderBase + "/api/v1/accounts/" + accountID + "/credentials/" + cred + "/parts/" + cls
	}
	idCred := genCredential{ID: g.uuid(), Category: "ID"}
	selfieCred := genCredential{ID: g.uuid(), Category: "SELFIE"}
	facemapCred := genCredential{ID: g.uuid(), Category: "FACEMAP"}
	idRef := []genCredRef{{idCred.ID, "ID"}}

	expired := outcome == OutcomeSessionExpired || outcome == OutcomeTokenExpired
	if expired {
		d.Workflow.Status = outcome
		if outcome == OutcomeSessionExpired {
			d.StartedAt = ts(created.Add(time.Minute))
		}
		d.CompletedAt = ts(created.Add(31 * time.Minute))
		d.Credentials = []genCredential{idCred}
		d.Decision = decision("NOT_EXECUTED", outcome)
		d.Decision.Risk = &genRisk{Score: -1}
		if outcome == OutcomeSessionExpired && g.rng.IntN(2) == 0 {
			// Seen in real data: an expired session reported as REJECTED/100.
			d.Decision = decision("REJECTED", "REJECTED")
			d.Decision.Risk = &genRisk{Score: 100}
		}
		d.Capabilities = map[string][]genCapability{"usability": {{ID: g.uuid(), Credentials: idRef, Decision: decision("NOT_EXECUTED", "NOT_UPLOADED")}}}
		return g.finish(d, outcome, country, nil)
	}

	d.Workflow.Status = "PROCESSED"
	d.StartedAt = ts(created.Add(time.Minute))
	d.CompletedAt = ts(created.Add(4 * time.Minute))
	idCred.Parts = []genPart{{"FRONT", partHref(idCred.ID, "FRONT")}}
	if p.docType != "PASSPORT" {
		idCred.Parts = append(idCred.Parts, genPart{"BACK", partHref(idCred.ID, "BACK")})
	}
	d.Credentials = []genCredential{idCred}
	if selfie {
		selfieCred.Parts = []genPart{{"FACE", partHref(selfieCred.ID, "FACE")}}
		facemapCred.Parts = []genPart{{Classifier: "FACEMAP"}}
		d.Credentials = append(d.Credentials, selfieCred, facemapCred)
	}

	// Decide each capability's decision.
	result := map[string]genDecision{}
	for _, c := range caps {
		result[c] = decision("PASSED", cmp.Or(passLabel[c], "OK"))
	}
	var score float64
	switch outcome {
	case OutcomePassed:
		score = float64(g.rng.IntN(31))
	case OutcomeWarning:
		score = float64(31 + g.rng.IntN(40))
		w := g.pickPair(warnings, has)
		result[w.capability] = decision("WARNING", w.label)
	case OutcomeRejected:
		score = float64(71 + g.rng.IntN(30))
		r := g.pickPair(rejections, has)
		if o.reject != nil {
			r = *o.reject
		}
		result[r.capability] = decision("REJECTED", r.label)
		for _, dep := range dependants[r.capability] {
			if has(dep) {
				result[dep] = decision("NOT_EXECUTED", "PRECONDITION_NOT_FULFILLED")
			}
		}
	}
	d.Decision = decision(outcome, outcome)
	d.Decision.Risk = &genRisk{Score: score}

	d.Capabilities = map[string][]genCapability{}
	for _, c := range caps {
		e := genCapability{ID: g.uuid(), Credentials: idRef, Decision: result[c]}
		switch c {
		case "usability":
			d.Capabilities[c] = append(d.Capabilities[c], e)
			if selfie {
				d.Capabilities[c] = append(d.Capabilities[c], genCapability{ID: g.uuid(),
					Credentials: []genCredRef{{selfieCred.ID, "SELFIE"}}, Decision: decision("PASSED", "OK")})
			}
			continue
		case "extraction":
			e.Data = json.RawMessage("{}")
			if result[c].Type == "PASSED" {
				e.Data = extractionData(p)
			}
		case "liveness":
			e.Credentials = []genCredRef{{facemapCred.ID, "FACEMAP"}, {selfieCred.ID, "SELFIE"}}
			e.ValidFaceMapForAuthentication = partHref(facemapCred.ID, "FACEMAP")
			e.Data = json.RawMessage(`{"type":"IPROOV_STANDARD","predictedAge":` + strconv.Itoa(25+g.rng.IntN(40)) + `}`)
		case "similarity":
			e.Credentials = []genCredRef{{idCred.ID, "ID"}, {selfieCred.ID, "SELFIE"}}
			if result[c].Type != "NOT_EXECUTED" {
				e.Data = json.RawMessage(`{"similarity":"` + result[c].Details.Label + `"}`)
			}
		case "watchlistScreening":
			if result[c].Type != "NOT_EXECUTED" {
				hits := 0
				if result[c].Details.Label == "ALERT" {
					hits = 1 + g.rng.IntN(3)
				}
				e.Data = json.RawMessage(`{"searchDate":"` + ts(created.Add(3*time.Minute)) + `","searchStatus":"DONE","searchResults":` + strconv.Itoa(hits) + `}`)
			}
		}
		d.Capabilities[c] = []genCapability{e}
	}
	return g.finish(d, outcome, country, parts(d))
}

func (g *generator) pickPair(list []struct{ capability, label string }, has func(string) bool) struct{ capability, label string } {
	var ok []struct{ capability, label string }
	for _, x := range list {
		if has(x.capability) {
			ok = append(ok, x)
		}
	}
	return ok[g.rng.IntN(len(ok))]
}

func extractionData(p person) json.RawMessage {
	type parts struct {
		Year  string `json:"year"`
		Month string `json:"month"`
		Day   string `json:"day"`
	}
	split := func(d string) parts { return parts{d[0:4], d[5:7], d[8:10]} }
	b, _ := json.Marshal(struct {
		Type             string            `json:"type"`
		SubType          string            `json:"subType"`
		IssuingCountry   string            `json:"issuingCountry"`
		FirstName        string            `json:"firstName"`
		LastName         string            `json:"lastName"`
		DateOfBirth      string            `json:"dateOfBirth"`
		ExpiryDate       string            `json:"expiryDate"`
		IssuingDate      string            `json:"issuingDate"`
		DocumentNumber   string            `json:"documentNumber"`
		Gender           string            `json:"gender"`
		Nationality      string            `json:"nationality"`
		PersonalNumber   string            `json:"personalNumber"`
		Address          map[string]string `json:"address"`
		DateOfBirthParts parts             `json:"dateOfBirthParts"`
		ExpiryDateParts  parts             `json:"expiryDateParts"`
	}{
		Type: p.docType, SubType: p.subType, IssuingCountry: p.country, FirstName: p.first, LastName: p.last,
		DateOfBirth: p.dob, ExpiryDate: p.expiry, IssuingDate: p.issued, DocumentNumber: p.number,
		Gender: p.gender, Nationality: p.country, PersonalNumber: "N/A",
		Address:          map[string]string{"line1": "1 EXAMPLE STREET", "city": p.city, "postalCode": p.postal, "country": p.country},
		DateOfBirthParts: split(p.dob), ExpiryDateParts: split(p.expiry),
	})
	return b
}

func parts(d genDetails) []Part {
	var out []Part
	for _, c := range d.Credentials {
		for _, p := range c.Parts {
			if p.Href != "" {
				out = append(out, Part{AccountID: d.Account.ID, CredentialID: c.ID, Classifier: p.Classifier})
			}
		}
	}
	return out
}

func (g *generator) finish(d genDetails, outcome, country string, ps []Part) Execution {
	raw, _ := json.Marshal(d)
	sent, _ := time.Parse(generatedTimestampLayout, cmp.Or(d.CompletedAt, d.CreatedAt))
	sent = sent.Add(time.Duration(1+g.rng.IntN(30)) * time.Second).Add(time.Duration(g.rng.IntN(1000)) * time.Millisecond)
	return Execution{
		AccountID:      d.Account.ID,
		ID:             d.Workflow.ID,
		DefinitionKey:  d.Workflow.DefinitionKey,
		Status:         d.Workflow.Status,
		UserReference:  d.Workflow.UserReference,
		CallbackSentAt: sent,
		Details:        raw,
		Outcome:        outcome,
		Country:        country,
		Parts:          ps,
	}
}

// ---- Netverify -----------------------------------------------------------

var fraudReasons = []struct{ code, desc string }{
	{"100", "MANIPULATED_DOCUMENT"}, {"105", "FRAUDSTER"}, {"106", "FAKE"}, {"107", "PHOTO_MISMATCH"}, {"108", "MRZ_CHECK_FAILED"},
}

var unreadableDetails = []struct{ code, desc string }{
	{"2001", "BLURRED"}, {"2002", "BAD_QUALITY"}, {"2003", "MISSING_PART_DOCUMENT"}, {"2006", "GLARE"},
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// netverify generates one Netverify transaction with the outcome.
func (g *generator) netverify(outcome string, created time.Time) NetverifyScan {
	ref := g.uuid()
	cbDate := created.Add(time.Duration(4+g.rng.IntN(10))*time.Minute + time.Duration(g.rng.IntN(1000))*time.Millisecond)
	switch outcome {
	case OutcomeAuthPassed, OutcomeAuthFailed:
		res := strings.TrimPrefix(outcome, "AUTH_")
		f := url.Values{}
		f.Set("callBackType", "NETVERIFY_AUTHENTICATION")
		f.Set("transactionReference", ref)
		f.Set("enrollmentTransactionReference", g.uuid())
		f.Set("transactionResult", res)
		f.Set("transactionDate", ts(created))
		f.Set("callbackDate", ts(cbDate))
		f.Set("scanSource", g.one([]string{"WEB", "SDK"}))
		f.Set("userReference", g.ref("usr"))
		return NetverifyScan{Kind: events.KindAuthentication, Reference: ref, Result: res, Outcome: outcome, Callback: f, CallbackDate: cbDate}
	case OutcomeDocumentExtracted:
		f := url.Values{}
		f.Set("scanReference", ref)
		f.Set("timestamp", ts(cbDate))
		f.Set("transaction", jsonString(map[string]string{"date": ts(created), "status": "DONE", "source": "DOC_UPLOAD",
			"merchantScanReference": g.ref("txn"), "customerId": g.ref("usr")}))
		f.Set("document", jsonString(map[string]any{"status": "EXTRACTED", "country": g.one(g.countries), "type": g.one([]string{"BS", "UB", "CC"})}))
		return NetverifyScan{Kind: events.KindDocumentVerification, Reference: ref, Result: "EXTRACTED", Outcome: outcome, Callback: f, CallbackDate: cbDate}
	}

	country := g.one(g.countries)
	p := g.person(country)
	merchantRef, customer := g.ref("txn"), g.ref("usr")
	source := g.one([]string{"WEB_UPLOAD", "WEB_CAM", "SDK"})
	ip := fmt.Sprintf("203.0.113.%d", 1+g.rng.IntN(254))
	f := url.Values{}
	f.Set("callBackType", "NETVERIFYID")
	f.Set("jumioIdScanReference", ref)
	f.Set("verificationStatus", outcome)
	f.Set("idScanStatus", map[bool]string{true: "SUCCESS", false: "ERROR"}[outcome == OutcomeApprovedVerified])
	f.Set("idScanSource", source)
	for _, c := range []string{"idCheckDataPositions", "idCheckDocumentValidation", "idCheckHologram", "idCheckMRZcode",
		"idCheckMicroprint", "idCheckSecurityFeatures", "idCheckSignature"} {
		f.Set(c, map[bool]string{true: "OK", false: "N/A"}[outcome == OutcomeApprovedVerified])
	}
	f.Set("transactionDate", ts(created))
	f.Set("callbackDate", ts(cbDate))
	f.Set("merchantIdScanReference", merchantRef)
	f.Set("customerId", customer)
	f.Set("clientIp", ip)

	document := map[string]any{"status": outcome}
	transaction := map[string]any{"clientIp": ip, "customerId": customer, "date": ts(created),
		"merchantScanReference": merchantRef, "source": source, "status": "DONE"}
	verification := map[string]any{}
	scanStatus := "DONE"
	var images []string

	if outcome == OutcomeNoIDUploaded {
		f.Set("idScanSource", "WEB")
		transaction["status"] = "FAILED"
		transaction["source"] = "WEB"
		scanStatus = "FAILED"
	} else {
		f.Set("idType", p.docType)
		f.Set("idCountry", country)
		document["type"] = p.docType
		document["issuingCountry"] = country
		images = []string{"front", "face"}
		if p.docType != "PASSPORT" {
			images = append(images, "back")
		}
		imageHref := func(cls string) string {
			return placeholderBase + "/api/netverify/v2/scans/" + ref + "/images/" + cls
		}
		f.Set("idScanImage", imageHref("front"))
		f.Set("idScanImageFace", imageHref("face"))
		if slices.Contains(images, "back") {
			f.Set("idScanImageBackside", imageHref("back"))
		}
	}
	switch outcome {
	case OutcomeApprovedVerified:
		f.Set("idSubtype", p.subType)
		f.Set("idFirstName", p.first)
		f.Set("idLastName", p.last)
		f.Set("idDob", p.dob)
		f.Set("idExpiry", p.expiry)
		f.Set("idNumber", p.number)
		f.Set("personalNumber", "N/A")
		addr := map[string]string{"country": country, "city": p.city, "postalCode": p.postal, "line1": "1 EXAMPLE STREET"}
		f.Set("idAddress", jsonString(addr))
		iv := map[string]any{"similarity": "MATCH", "validity": true}
		f.Set("identityVerification", jsonString(iv))
		for k, v := range map[string]any{"idSubtype": p.subType, "firstName": p.first, "lastName": p.last, "dob": p.dob,
			"expiry": p.expiry, "number": p.number, "address": addr} {
			document[k] = v
		}
		verification["identityVerification"] = map[string]string{"similarity": "MATCH", "validity": "true"}
		verification["mrzCheck"] = "OK"
	case OutcomeDeniedFraud:
		r := fraudReasons[g.rng.IntN(len(fraudReasons))]
		rr := map[string]any{"rejectReasonCode": r.code, "rejectReasonDescription": r.desc}
		if r.code == "100" {
			rr["rejectReasonDetails"] = []map[string]string{{"detailsCode": "1001", "detailsDescription": "PHOTO"}, {"detailsCode": "1004", "detailsDescription": "DOB"}}
		}
		f.Set("rejectReason", jsonString(rr))
		verification["rejectReason"] = rr
	case OutcomeNotReadable:
		d := unreadableDetails[g.rng.IntN(len(unreadableDetails))]
		rr := map[string]any{"rejectReasonCode": "200", "rejectReasonDescription": "NOT_READABLE_DOCUMENT",
			"rejectReasonDetails": map[string]string{"detailsCode": d.code, "detailsDescription": d.desc}}
		f.Set("rejectReason", jsonString(rr))
		verification["rejectReason"] = rr
	}
	data, _ := json.Marshal(map[string]any{
		"timestamp": ts(cbDate), "scanReference": ref,
		"document": document, "transaction": transaction, "verification": verification,
	})
	return NetverifyScan{
		Kind: events.KindIDVerification, Reference: ref, Status: scanStatus, Result: outcome, Outcome: outcome,
		Data: data, Images: images, Callback: f, CallbackDate: cbDate,
	}
}
