package mapping

import (
	"cmp"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// FromPlatform maps Platform workflow details, and the callback event that
// triggered their retrieval, to the normalized result. d may be nil (the
// details could not be retrieved): the result then holds what the event
// says. t may be nil for DefaultTables.
//
// Ids come from the event (the ids ingest verified and retrieval used),
// falling back to the details; the user reference comes from the details,
// falling back to the callback's. The status is workflow.status, falling back
// to the callback's status; SESSION_EXPIRED and TOKEN_EXPIRED give decision
// NOT_EXECUTED whatever decision.type says. Every capability entry is kept,
// in a fixed order, with the categories of the credentials it evaluated;
// reasons are the entries that did not pass, in the order Jumio sent them,
// with the Netverify reject code where one maps; the extraction entry fills
// Document and Person; credential parts with an href become image
// references (never followed). VerificationStatus and
// IdentityVerification are LegacyStatus and LegacyIdentity of the result.
//
// A decision, capabilities object or capability entry that could not be
// read (d.Warnings, CapabilityEntry.Unreadable) is named in
// UnreadableFields, and the result is never PASSED. What the details hold
// that has no field of its own (feedback, rules, capability data that may
// be personal data, fields Jumio adds) is kept in Extra.
// Details with wipedOutAt give a tombstone: WipedOut set, and nothing that
// may be personal data (no document, person, images, extra, client IPs or
// reporting criteria).
//
// Enriched is left for the caller to set.
func FromPlatform(ev events.CallbackEvent, d *wire.WorkflowDetails, t *Tables) events.Result {
	b := newBuilder(ev, events.APIPlatform, t)
	if d == nil {
		d = &wire.WorkflowDetails{}
	}
	r := &b.r
	r.Source.Kind = events.KindWorkflow
	caps, order, ok := knownCapabilities(d)
	if !ok {
		b.unreadable("capabilities")
	}
	d = ptr(*d) // the caller's details are left as they were
	d.Capabilities, d.CapabilityOrder = caps, order

	r.IDs.AccountID = firstID(ev.AccountID, d.Account.ID)
	r.IDs.WorkflowExecutionID = firstID(ev.WorkflowExecutionID, d.Workflow.ID)
	r.IDs.UserReference = firstWord(string(d.Workflow.UserReference), callbackUserReference(ev.JSON))
	r.IDs.CustomerInternalReference = word(d.Workflow.CustomerInternalReference)
	r.IDs.ReportingCriteria = word(d.Workflow.ReportingCriteria)

	r.Source.WorkflowDefinitionKey = firstWord(string(d.Workflow.DefinitionKey), ev.WorkflowDefinitionKey)
	r.Source.Product = b.t.Product(r.Source.WorkflowDefinitionKey)
	if r.Source.Region == "" {
		r.Source.Region = regionFromParts(d.Credentials)
	}

	r.Status = events.Status(firstWord(d.Workflow.Status, ev.Status))
	if cs, ds := events.Status(word(ev.Status)), events.Status(word(d.Workflow.Status)); ended(cs) && ended(ds) && cs != ds {
		// The callback and the details name two different ends (a
		// TOKEN_EXPIRED callback, PROCESSED details): one of them is
		// wrong, and which cannot be known.
		b.unreadable("workflow.status")
	}
	r.Decision = events.Decision{
		Type:      events.DecisionType(word(d.Decision.Type)),
		Label:     word(d.Decision.Label()),
		RiskScore: riskScore(d.Decision.RiskScore()),
	}
	if s := d.Decision.RiskScore(); d.Decision.RiskUnreadable || (s != nil && r.Decision.RiskScore == nil) {
		// A risk score that cannot be read ("N/A", an object) or that
		// Jumio cannot give (outside -1 … 100, docs/jumio.md 4.5) is
		// no score of a pass: it may have been the -1 of a check not
		// completed, or one above the tenant's threshold.
		b.unreadable("decision.risk.score")
	}
	for _, w := range d.Warnings {
		if w == "decision" || w == "capabilities" || w == "workflow.status" {
			// A workflow.status that could not be read (sent in two
			// spellings, say PROCESSED and ACQUIRED) leaves the
			// callback's status, and no verdict: whether the
			// verification ended is not known.
			b.unreadable(w)
		}
	}
	if t := r.Decision.Type; t != "" && !t.Documented() {
		// "passed" is not Jumio's PASSED, "PASSED" with a zero-width
		// space only looks like it, and a type Jumio does not document
		// is no verdict kycflow can stand behind: each goes to manual
		// review, never into a result subject of its own.
		b.unreadable("decision")
	}

	for _, name := range capabilityNames(d) {
		if word(name) == "" {
			continue
		}
		for i, c := range d.Capabilities[name] {
			b.platformEntry(word(name), i, c)
		}
	}
	b.extract(d.Capabilities[capExtraction], d.Credentials)
	b.contradicted(d)

	categories := map[string]string{}
	for _, c := range d.Credentials {
		categories[word(c.ID)] = word(c.Category)
		for _, p := range c.Parts {
			if img := b.image(word(c.Category), word(c.ID), word(p.Classifier), p.Href); img != nil {
				img.CaptureType = word(p.CaptureType)
			}
		}
		cr := events.Credential{ID: firstID(c.ID), Category: word(c.Category), ClientIP: word(c.ClientIP)}
		if c.Consent != nil {
			consent := events.Consent{DecisionAccepted: word(c.Consent.DecisionAccepted), CollectedBy: word(c.Consent.CollectedBy)}
			if consent != (events.Consent{}) {
				cr.Consent = &consent
			}
		}
		if !empty(cr) {
			r.Credentials = append(r.Credentials, cr)
		}
	}
	// Liveness entries link the facemap valid for authentication.
	for _, c := range d.Capabilities[capLiveness] {
		b.image("FACEMAP", facemapCredential(c, categories), "FACEMAP", c.ValidFaceMapForAuthentication)
	}
	slices.SortStableFunc(r.Credentials, func(a, b events.Credential) int {
		return cmp.Or(cmp.Compare(indexOr(categoryOrder, a.Category), indexOr(categoryOrder, b.Category)),
			strings.Compare(a.Category, b.Category), strings.Compare(a.ID, b.ID))
	})
	if d.Steps != nil && validHref(strings.TrimSpace(d.Steps.Href)) {
		r.Links = &events.Links{Steps: strings.TrimSpace(d.Steps.Href)}
	}
	for _, k := range slices.Sorted(maps.Keys(d.Extra)) {
		b.extra(k, d.Extra[k])
	}

	r.Timestamps.Created = utc(d.CreatedAt.Time)
	r.Timestamps.Started = utc(d.StartedAt.Time)
	r.Timestamps.Completed = utc(d.CompletedAt.Time)

	// Wiped out: Jumio deleted the personal data. Whatever extracted data
	// or image link the details still carry is left out, so a tombstone
	// never holds personal data.
	if r.Timestamps.WipedOut = utc(d.WipedOutAt.Time); r.Timestamps.WipedOut != nil {
		r.Document, r.Person, r.Images, r.Extra = nil, nil, nil, nil
		r.IDs.ReportingCriteria = ""
		for i := range r.Credentials {
			r.Credentials[i].ClientIP = ""
		}
	}

	out := b.finish()
	out.VerificationStatus, _, _ = LegacyStatus(out)
	out.IdentityVerification = LegacyIdentity(out)
	return out
}

// ended reports whether s is a status a verification ends with.
func ended(s events.Status) bool { return s == events.StatusProcessed || s.Expired() }

// contradicted keeps a PASSED that the details do not bear out from
// standing: details of an ended workflow without a single capability
// entry (nothing shows what passed: unreadable "capabilities"); a
// workflow decision labelled other than PASSED (Jumio labels a PASSED
// PASSED, docs/jumio.md 4.5); and a capability that did not pass
// (WARNING, REJECTED), whose decision is none Jumio documents, whose
// PASSED carries a label other than the one Jumio documents for a pass
// (OK; MATCH for similarity, whose data must then say MATCH too), or a
// capability of the document or the face (usability, imageChecks,
// extraction, dataChecks, liveness, similarity) that was NOT_EXECUTED:
// the document was not read whole. Jumio's overall decision is made from
// its capabilities' (docs/jumio.md 4.6), so each is a document kycflow
// cannot read as a pass: it goes to manual review (WARNING), with the
// capability among the reasons. Other capabilities NOT_EXECUTED (a
// screening without enough data) do not lower it: a check a workflow did
// not need is not executed.
func (b *builder) contradicted(d *wire.WorkflowDetails) {
	r := &b.r
	if r.Decision.Type != events.DecisionPassed {
		return
	}
	entries := 0
	for _, list := range d.Capabilities {
		entries += len(list)
	}
	if entries == 0 && !slices.Contains(r.UnreadableFields, "capabilities") {
		b.unreadable("capabilities")
		return
	}
	// A risk score of -1 is Jumio's NOT_EXECUTED (docs/jumio.md 4.5): a
	// check started and not completed.
	lower := (r.Decision.Label != "" && r.Decision.Label != string(events.DecisionPassed)) ||
		(r.Decision.RiskScore != nil && *r.Decision.RiskScore < 0)
	if len(b.missing) > 0 && d.WipedOutAt.IsZero() {
		// Partial extraction data is no pass, and the reason names
		// the fields it lacks (never a value: they are personal data).
		e := b.add(capExtraction, events.DecisionWarning, labelMissingData, map[string]string{"missing": strings.Join(b.missing, ",")})
		e.CredentialCategories = []string{"ID"}
		lower = true
	}
	passed := false
	for _, e := range b.caps {
		if lower || contradicts(e) {
			b.lowerToWarning()
			return
		}
		passed = passed || e.Decision == events.DecisionPassed
	}
	if !passed {
		// Not one capability passed (all NOT_EXECUTED: an
		// authentication without a valid token, a screening without
		// enough data): nothing bears the PASSED out.
		b.lowerToWarning()
	}
}

// ofID reports whether a capability entry evaluated an ID credential: by
// the category its reference names, else by the category of the
// workflow's credential of that id (a reference need not repeat it).
// An entry none of whose credentials has a known category is read as of
// an ID, as documentCapability reads one: nothing says it is not.
func ofID(e wire.CapabilityEntry, creds []wire.Credential) bool {
	known := false
	for _, c := range e.Credentials {
		cat := word(c.Category)
		if cat == "" {
			if i := slices.IndexFunc(creds, func(cr wire.Credential) bool { return word(cr.ID) != "" && strings.EqualFold(word(cr.ID), word(c.ID)) }); i >= 0 {
				cat = word(creds[i].Category)
			}
		}
		if strings.EqualFold(cat, "ID") {
			return true
		}
		known = known || cat != ""
	}
	return !known
}

// mandatoryExtraction are the extraction data Jumio names mandatory for
// a successful extraction of an ID (docs/jumio.md 4.6), by Jumio's names.
var mandatoryExtraction = []struct {
	name  string
	value func(wire.ExtractionData) wire.String
}{
	{"firstName", func(x wire.ExtractionData) wire.String { return x.FirstName }},
	{"lastName", func(x wire.ExtractionData) wire.String { return x.LastName }},
	{"dateOfBirth", func(x wire.ExtractionData) wire.String { return x.DateOfBirth }},
	{"documentNumber", func(x wire.ExtractionData) wire.String { return x.DocumentNumber }},
	{"expiryDate", func(x wire.ExtractionData) wire.String { return x.ExpiryDate }},
}

// lacks records the mandatory fields x lacks (empty or "N/A"); x is nil
// for an extraction that sent no data at all.
func (b *builder) lacks(x *wire.ExtractionData) {
	for _, f := range mandatoryExtraction {
		if (x == nil || word(f.value(*x)) == "") && !slices.Contains(b.missing, f.name) {
			b.missing = append(b.missing, f.name)
		}
	}
}

// lowerToWarning turns the workflow decision into a manual review.
func (b *builder) lowerToWarning() {
	b.r.Decision.Type = events.DecisionWarning
	b.r.Decision.Label = string(events.DecisionWarning)
}

// passLabels are the labels Jumio documents for a PASSED capability
// (docs/jumio.md 4.6); a capability missing here has no label rule.
var passLabels = map[string]string{
	capUsability: labelOK, capImageChecks: labelOK, capExtraction: labelOK, capDataChecks: labelOK,
	capLiveness: labelOK, capSimilarity: "MATCH", capAuthentication: labelOK, capWatchlist: labelOK,
	capAddress: labelOK, capResidency: labelOK, capDrivingLicense: labelOK, capCPF: labelOK,
}

// readWhole are the capabilities a PASSED needs to have run, if the
// workflow has them: those of the document and of the face.
var readWhole = []string{capUsability, capImageChecks, capExtraction, capDataChecks, capLiveness, capSimilarity}

// contradicts reports whether capability entry e does not bear out a
// PASSED workflow (see contradicted).
func contradicts(e entry) bool {
	switch e.Decision {
	case events.DecisionWarning, events.DecisionRejected:
		return true
	case events.DecisionNotExecuted:
		return slices.Contains(readWhole, e.Name)
	case events.DecisionPassed:
		if want, ok := passLabels[e.Name]; ok && e.Label != "" && !strings.EqualFold(e.Label, want) {
			return true
		}
		if n, err := strconv.Atoi(e.Data["searchResults"]); e.Name == capWatchlist && err == nil && n > 0 {
			// Hits are an ALERT (WARNING) in Jumio's table
			// (docs/jumio.md 4.6), as they are from Netverify's
			// additionalChecks.
			return true
		}
		sim := e.Data["similarity"]
		return e.Name == capSimilarity && sim != "" && !strings.EqualFold(sim, "MATCH")
	}
	return !e.Decision.Documented()
}

// knownCapabilities returns the capabilities of d with every name that
// is a known capability's in another case ("Liveness", "USABILITY") or
// with spaces around it spelled as the known name: the rules are written
// against Jumio's names, and a capability that escaped them by its case
// would let a NOT_EXECUTED liveness or a hollow extraction pass. Unknown
// names are kept as they are. ok is false when two names are the same
// capability ("liveness" and "Liveness"): which one Jumio meant cannot be
// known, as with a key sent twice.
func knownCapabilities(d *wire.WorkflowDetails) (map[string][]wire.CapabilityEntry, []string, bool) {
	if d.Capabilities == nil {
		return nil, d.CapabilityOrder, true
	}
	canonical := func(name string) string {
		for _, c := range capabilityOrder {
			if strings.EqualFold(word(name), c) {
				return c
			}
		}
		return name
	}
	caps := make(map[string][]wire.CapabilityEntry, len(d.Capabilities))
	for name, entries := range d.Capabilities {
		c := canonical(name)
		if _, dup := caps[c]; dup {
			return nil, nil, false
		}
		caps[c] = entries
	}
	var order []string
	for _, name := range d.CapabilityOrder {
		if c := canonical(name); !slices.Contains(order, c) {
			order = append(order, c)
		}
	}
	return caps, order, true
}

// capabilityNames are the capabilities of d in the order Jumio sent them
// (when known), then any others by name.
func capabilityNames(d *wire.WorkflowDetails) []string {
	names := slices.Clone(d.CapabilityOrder)
	for _, n := range slices.Sorted(maps.Keys(d.Capabilities)) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// facemapCredential is the id of the FACEMAP credential a liveness entry
// evaluated, if it names one.
func facemapCredential(c wire.CapabilityEntry, categories map[string]string) string {
	for _, cr := range c.Credentials {
		if strings.EqualFold(word(cr.Category), "FACEMAP") || categories[word(cr.ID)] == "FACEMAP" {
			return firstID(cr.ID)
		}
	}
	return ""
}

// platformEntry adds capability entry i of capability name.
func (b *builder) platformEntry(name string, i int, c wire.CapabilityEntry) {
	path := "capabilities." + name + "[" + strconv.Itoa(i) + "]"
	var e *entry
	if c.Unreadable {
		e = b.unreadable("capabilities."+name, name)[0]
	} else {
		data, extra := platformData(name, c.Data)
		e = b.add(name, events.DecisionType(word(c.Decision.Type)), word(c.Decision.Label()), data)
		for _, k := range slices.Sorted(maps.Keys(extra)) {
			b.extra(path+".data"+k, extra[k])
		}
	}
	e.ID = word(c.ID)
	var cats []string
	for _, cr := range c.Credentials {
		if id := word(cr.ID); id != "" {
			e.CredentialIDs = append(e.CredentialIDs, id)
		}
		if cat := word(cr.Category); cat != "" {
			cats = append(cats, cat)
		}
	}
	e.CredentialCategories = sortCategories(cats)
	for _, k := range slices.Sorted(maps.Keys(c.Extra)) {
		b.extra(path+"."+k, c.Extra[k])
	}
}

// callbackUserReference returns the userReference of the Platform callback
// body an event holds; "" when it has none or does not decode.
func callbackUserReference(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var cb struct {
		UserReference wire.String `json:"userReference"`
	}
	if json.Unmarshal(raw, &cb) != nil {
		return ""
	}
	return string(cb.UserReference)
}

// firstID returns the first well-formed Jumio id (a UUID).
func firstID(ids ...string) string {
	for _, id := range ids {
		if wire.ValidID(id) {
			return id
		}
	}
	return ""
}

func firstWord(a, b string) string { return cmp.Or(word(a), word(b)) }

// regionFromParts returns the region named by the credential part hrefs,
// which are parsed, never followed.
func regionFromParts(creds []wire.Credential) string {
	for _, c := range creds {
		for _, p := range c.Parts {
			if r, ok := wire.RegionFromHref(p.Href); ok {
				return string(r)
			}
		}
	}
	return ""
}

// platformData splits a capability's data: the keys of capabilityData go
// to Capability.Data (nested keys written "parent.child";
// "faceSearchFindings.count" is the number of findings); every other key,
// which may be personal data, is returned by its path below data (".key",
// ".parent.child") for Extra. Extraction data is read by extract.
func platformData(name string, raw json.RawMessage) (map[string]string, map[string]json.RawMessage) {
	m, ok := objectOf(raw)
	if !ok {
		if len(raw) > 0 && name != capExtraction {
			return nil, map[string]json.RawMessage{"": raw}
		}
		return nil, nil
	}
	if name == capExtraction {
		out := map[string]string{}
		if v := str(m["nfcValidationResult"]); v != "" {
			out["nfcValidationResult"] = v
		}
		return out, nil
	}
	i := slices.IndexFunc(capabilityData, func(c dataKeys) bool { return c.capability == name })
	var keys []string
	if i >= 0 {
		keys = capabilityData[i].keys
	}
	out := map[string]string{}
	extra := map[string]json.RawMessage{}
	for k, v := range m {
		if k == "faceSearchFindings" && slices.Contains(keys, "faceSearchFindings.status") {
			fs, _ := objectOf(v)
			if s := str(fs["status"]); s != "" {
				out["faceSearchFindings.status"] = s
			}
			if n, ok := countFindings(fs["findings"]); ok && n != "" {
				out["faceSearchFindings.count"] = n
			}
			for fk, fv := range fs {
				if fk != "status" {
					extra["."+k+"."+fk] = fv
				}
			}
			continue
		}
		if slices.Contains(keys, k) {
			if s, ok := scalar(v); ok {
				if s != "" {
					out[k] = s
				}
				continue
			}
		}
		extra["."+k] = v
	}
	return out, extra
}

// countFindings counts face search findings, sent as an array or as one
// string; ok is false for anything else.
func countFindings(raw json.RawMessage) (string, bool) {
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		return strconv.Itoa(len(list)), true
	}
	s, ok := scalar(raw)
	if s != "" {
		return "1", true
	}
	return "", ok
}

// extract fills Document and Person from the extraction entries: the first
// (by id) that passed and holds data, else the first that holds data.
// "N/A" values are absent. The keys of every entry's data that name no
// field of the result go to Extra.
func (b *builder) extract(entries []wire.CapabilityEntry, creds []wire.Credential) {
	type decoded struct {
		i      int
		passed bool
		id     string
		x      wire.ExtractionData
	}
	var all []decoded
	for i, e := range entries {
		var x wire.ExtractionData
		passed := e.Decision.Type == string(events.DecisionPassed)
		if len(e.Data) == 0 {
			if passed && ofID(e, creds) {
				// No data (absent, null) is as partial as "data":{}.
				b.lacks(nil)
			}
			continue
		}
		if err := json.Unmarshal(e.Data, &x); err != nil || len(x.Warnings) > 0 {
			// What a PASSED extraction read cannot be read here: not
			// a pass kycflow can stand behind.
			b.unreadable("capabilities.extraction.data", capExtraction)
			if err != nil {
				continue
			}
		}
		path := "capabilities.extraction[" + strconv.Itoa(i) + "].data."
		for _, k := range slices.Sorted(maps.Keys(x.Extra)) {
			b.extra(path+k, x.Extra[k])
		}
		b.extra(path+"additionalLanguage", x.AdditionalLanguage)
		if passed && ofID(e, creds) {
			// Names, date of birth, document number and expiry date
			// are mandatory for a successful extraction of an ID
			// (docs/jumio.md 4.6): data without one of them is
			// partial, whatever the entry says. (A document's, a
			// utility bill's, has none of them.)
			b.lacks(&x)
		}
		all = append(all, decoded{i, passed, e.ID, x})
	}
	slices.SortStableFunc(all, func(a, b decoded) int {
		switch {
		case a.passed && !b.passed:
			return -1
		case b.passed && !a.passed:
			return 1
		}
		return strings.Compare(a.id, b.id)
	})
	for _, e := range all {
		setIdentity(&b.r, extractionIdentity(e.x))
		if b.r.Document != nil || b.r.Person != nil {
			return
		}
	}
}
