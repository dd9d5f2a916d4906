package mapping

import (
	"cmp"
	"fmt"
	"go/ast"
	"go/doc/comment"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const docPath = "../../docs/mapping.md"

// TestMappingDoc keeps docs/mapping.md equal to what the tables in code
// say. go test ./pkg/mapping -run TestMappingDoc -update rewrites it.
func TestMappingDoc(t *testing.T) {
	got := renderDoc(t)
	if *update {
		if err := os.WriteFile(docPath, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(docPath)
	if err != nil || string(want) != got {
		t.Fatalf("docs/mapping.md is stale; regenerate it with: go test ./pkg/mapping -run TestMappingDoc -update")
	}
}

// md escapes a table cell.
func md(s string) string {
	if s == "" {
		return "–"
	}
	return strings.ReplaceAll(s, "|", `\|`)
}

type table struct {
	b    *strings.Builder
	cols int
}

func newTable(b *strings.Builder, head ...string) table {
	fmt.Fprintf(b, "\n| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat("---|", len(head)))
	return table{b, len(head)}
}

func (t table) row(cells ...string) {
	for i := range cells {
		cells[i] = md(cells[i])
	}
	fmt.Fprintf(t.b, "| %s |\n", strings.Join(cells, " | "))
}

// goSource reads the Go files of a directory (not tests).
func goSource(t *testing.T, dir string) []*ast.File {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	var files []*ast.File
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// oneLine joins a comment into one line.
func oneLine(g *ast.CommentGroup) string {
	if g == nil {
		return ""
	}
	return strings.Join(strings.Fields(g.Text()), " ")
}

// resultFields renders the fields of the Result types with the doc comment
// that names their sources.
func resultFields(t *testing.T, b *strings.Builder) {
	types := map[string]*ast.StructType{}
	for _, f := range goSource(t, "../events") {
		ast.Inspect(f, func(n ast.Node) bool {
			if ts, ok := n.(*ast.TypeSpec); ok {
				if st, ok := ts.Type.(*ast.StructType); ok {
					types[ts.Name.Name] = st
				}
			}
			return true
		})
	}
	var walk func(typ, prefix string)
	tab := newTable(b, "field", "where it comes from")
	walk = func(typ, prefix string) {
		for _, f := range types[typ].Fields.List {
			if f.Tag == nil || len(f.Names) == 0 {
				continue
			}
			tag, _ := strconv.Unquote(f.Tag.Value)
			name, _, _ := strings.Cut(reflect.StructTag(tag).Get("json"), ",")
			path := prefix + name
			// The type's own comment stands in for fields that are a
			// struct of their own.
			inner := strings.TrimLeft(types2(f.Type), "[]*")
			if _, ok := types[inner]; ok && inner != "Time" {
				tab.row("`"+path+"`", oneLine(f.Doc))
				walk(inner, path+".")
				continue
			}
			tab.row("`"+path+"`", oneLine(f.Doc))
		}
	}
	walk("Result", "")
}

func types2(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.StarExpr:
		return "*" + types2(e.X)
	case *ast.ArrayType:
		return "[]" + types2(e.Elt)
	case *ast.SelectorExpr:
		return e.Sel.Name
	}
	return ""
}

// funcDoc renders the doc comment of a function of this package as
// Markdown.
func funcDoc(t *testing.T, name string) string {
	for _, f := range goSource(t, ".") {
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Name.Name == name && fd.Recv == nil {
				var p comment.Parser
				var pr comment.Printer
				pr.HeadingLevel = 4
				return string(pr.Markdown(p.Parse(fd.Doc.Text())))
			}
		}
	}
	t.Fatalf("no func %s", name)
	return ""
}

func renderDoc(t *testing.T) string {
	t.Helper()
	b := &strings.Builder{}
	b.WriteString(`# Mapping reference

<!-- Generated from the tables in pkg/mapping and the doc comments of pkg/events.
     Do not edit: run go test ./pkg/mapping -run TestMappingDoc -update -->

` + coverageSummary(t) + `

How kycflow turns Jumio payloads into the normalized result (` + "`events.Result`" + `,
JSON Schema ` + "`pkg/events/schema/result.v1.json`" + `), and Netverify requests into
Platform account requests. Jumio publishes only part of its own Netverify → Platform
mapping, so most rows are inferred from the field and label names; the confidence
column says how sure each one is (confirmed: Jumio says so; high: same name and
meaning; medium, low: closest equivalent).

Rules for every result:

- Unknown statuses, decisions, labels, capability names and codes pass through as
  strings; nothing unknown makes mapping fail. An unknown Netverify verificationStatus
  is kept (verificationStatus, decision label) but never becomes a decision type: the
  decision is WARNING (REJECTED for DENIED_… and ERROR_…).
- ` + "`\"N/A\"`" + ` values are absent. Timestamps are UTC.
- SESSION_EXPIRED and TOKEN_EXPIRED give decision NOT_EXECUTED (label: the status,
  risk score -1 when Jumio gave one), whatever decision Jumio reported: it has been
  seen to report an expired session as REJECTED/100.
- Only a verification that ended can pass: a PASSED decision of a workflow still
  running (INITIATED, ACQUIRED; a Netverify scan still PENDING) becomes NOT_EXECUTED,
  labelled with the status, and one of a status kycflow does not know (or of none)
  WARNING.
- A PASSED that the rest of the document contradicts does not stand; it becomes
  WARNING, a manual review:
  - Platform: a capability WARNING or REJECTED, or with a decision type Jumio does not
    document (` + "`FAILED`, `rejected`" + `); a capability PASSED with a label other than the
    one Jumio documents for a pass (OK; MATCH for similarity, whose ` + "`data.similarity`" + `
    must say MATCH too), such as similarity PASSED / NO_MATCH or liveness PASSED /
    MULTIPLE_PEOPLE; a capability of the document or the face (usability, imageChecks,
    extraction, dataChecks, liveness, similarity) NOT_EXECUTED: the document was not
    read whole; a workflow decision PASSED labelled otherwise (` + "`REJECTED`" + `); extraction
    data that does not read (` + "`capabilities.extraction.data`" + ` is named unreadable); no
    capability entry at all (` + "`capabilities`" + ` is then named unreadable); not one
    capability PASSED (all NOT_EXECUTED: nothing bears the pass out); a risk score of
    -1 (Jumio's NOT_EXECUTED); a watchlistScreening PASSED whose ` + "`data.searchResults`" + `
    counts hits (an ALERT in Jumio's table, as it is from Netverify); an extraction of an ID
    PASSED without every field Jumio names mandatory for one (` + "`firstName`" + `, ` + "`lastName`" + `,
    ` + "`dateOfBirth`" + `, ` + "`documentNumber`" + `, ` + "`expiryDate`" + `; empty or ` + "`\"N/A\"`" + ` is missing, and so
    is ` + "`data`" + ` absent or null): partial data, with a reason extraction WARNING /
    MISSING_MANDATORY_DATAPOINTS whose ` + "`data.missing`" + ` names the fields, never their
    values; not once Jumio wiped the data out. A credential reference without its category
    has the category of the workflow's credential of that id (none known: an ID). Other
    capabilities NOT_EXECUTED (a screening without enough data) do not lower it. A
    decision type Jumio does not document, spelled in another case than Jumio's
    (` + "`passed`" + `), or one that only looks like a documented one (a zero-width space in
    it) is unreadable: it goes to manual review and never reaches a result subject. So is
    a ` + "`workflow.status`" + ` that could not be read, or that names another end than the
    callback's (PROCESSED details for a TOKEN_EXPIRED callback): whether, or how, the
    verification ended is not known.
  - Netverify ID verification: APPROVED_VERIFIED with an ` + "`idScanStatus`" + ` other than
    SUCCESS (a WARNING usability labelled with it; none at all is unreadable) or an
    ` + "`idCheck…`" + ` other than OK (a WARNING imageChecks; N/A or none, which Jumio sends only
    without an approval, labelled N/A; ` + "`idCheckMRZcode`" + ` may be N/A or left out, as IDs
    without an MRZ and masking have it); an ` + "`identityVerification`" + ` with validity TRUE
    and a reason (the reason is unreadable), or without its similarity or its validity
    (absent, null or ` + "`\"N/A\"`" + `: that one is unreadable, both missing the whole object; a
    reason without validity reads as validity FALSE); a retrieval ` + "`mrzCheck`" + ` other
    than OK or NOT_AVAILABLE (a WARNING dataChecks); a ` + "`transaction`" + ` that does not read (unreadable, on retrieval and on
    document verification callbacks). A ` + "`rejectReason`" + ` without a code is unreadable.
    A ` + "`DENIED_…`" + ` or ` + "`ERROR_…`" + ` status kycflow does not know rejects in any case.
  - Netverify callbacks whose kind is in doubt: ` + "`callBackType`" + ` sent with two values,
    or the outcome of another kind of callback beside the form's own (a
    ` + "`verificationStatus`" + ` beside an authentication's ` + "`transactionResult`" + `): ` + "`callBackType`" + `
    is named unreadable and the callback, read as the kind its fields choose, gives no
    verdict.
  - The Netverify ` + "`verificationStatus`" + ` APPROVED_VERIFIED says the document passed: it
    does not stand for a verification that has not ended (none; NO_ID_UPLOADED when
    it expired), nor when a capability of the document did not pass. A similarity
    that did not pass never gives a legacy ` + "`identityVerification`" + ` MATCH, whatever its
    ` + "`data.similarity`" + ` says.
- A JSON object with a key sent twice, or in two spellings encoding/json reads as one
  field (` + "`type`" + ` and ` + "`TYPE`" + `), with different values
  (` + "`{\"type\":\"REJECTED\",\"type\":\"PASSED\"}`" + `) is unreadable at any depth: which one
  Jumio meant cannot be known. Where it carries an outcome (a decision, a capability
  entry and its data, ` + "`capabilities`" + `, an additional check, a Netverify callback's JSON
  field such as ` + "`rejectReason`" + ` or a document verification's ` + "`document`" + `), the field is
  named unreadable; a whole document of that kind is not read at all (retried, then
  dead-lettered). So is a Netverify callback field that carries an outcome
  (verificationStatus, identityVerification, rejectReason, idScanStatus, an idCheck…;
  an authentication's transactionResult; a document verification's document and
  transaction) sent twice, in any case or in body and query string, with different
  values.
- A Platform capability named in another case than Jumio's (` + "`Liveness`" + `, ` + "`USABILITY`" + `)
  is the capability it names, under Jumio's name, and held to its rules; two names for
  one capability (` + "`liveness`" + ` and ` + "`Liveness`" + `) make ` + "`capabilities`" + ` unreadable. Unknown
  names are kept as sent.
- Capabilities are listed in a fixed order: ` + "`" + strings.Join(capabilityOrder, "`, `") + "`" + `,
  then unknown names alphabetically; within a capability by id, then label.
- Reasons are the capabilities that did not pass: REJECTED first, then WARNING, then
  NOT_EXECUTED; within those in the order Jumio sent them (Netverify's reject details,
  the Platform's capabilities and entries).
- Image references are copied, never followed; an href that is not an absolute
  http(s) URL is dropped.
- What Jumio sends that has no field of its own (fields Jumio adds, undocumented
  contents, capability data that may be personal data, Netverify fields without a
  Platform equivalent) is kept in ` + "`extra`" + ` by its Jumio path; ` + "`no_pii`" + ` and
  ` + "`decision_only`" + ` drop it.
- A field of another shape than documented is decoded leniently (a number for a string,
  an object sent as a string holding its JSON, a timestamp that is not RFC 3339) or left
  out; it never fails the whole document. When it carries an outcome, see below.

### Unreadable fields: fail closed

A field that carries a verification outcome and cannot be read never leaves the verdict as
it was. The fields: Netverify ` + "`identityVerification`" + ` (and its similarity, validity, reason),
` + "`rejectReason`" + `, document verification's ` + "`document`" + `, and in retrieval ` + "`document`" + `,
` + "`document.status`" + `, ` + "`verification`" + ` and each of its fields, each additional check;
Platform ` + "`decision`" + ` and its ` + "`decision.risk.score`" + ` (` + "`\"N/A\"`" + `, an object, a score outside
-1 … 100), ` + "`capabilities`" + ` and each capability entry (an entry, or its
decision, of another shape, or an entry without a decision type); retrieval
` + "`transaction.status`" + `. For such a result:

- ` + "`unreadableFields`" + ` names each field (never its value), and each capability it feeds
  (or, when it feeds none on its own, a capability named after the field) gets a result
  WARNING / UNREADABLE with ` + "`data.field`" + ` naming it, so it is also a reason;
- the decision is **WARNING**, Jumio's own word for "a person looks at it": a manual
  review, never PASSED. A REJECTED result stays REJECTED, and an expired one NOT_EXECUTED.
  Holding it in the dead-letter queue instead would retry a document that will not read
  better, and hide from downstream services a verification that needs a person;
- ` + "`verificationStatus`" + ` is never APPROVED_VERIFIED (it is absent instead), and there is no
  ` + "`identityVerification`" + ` built from it;
- the enricher counts it (` + "`kycflow_enricher_unreadable_fields_total{api,field}`" + `) and logs
  "result has unreadable fields" at WARN with the event, account and execution ids and the
  field names.

## Result fields
`)
	resultFields(t, b)

	b.WriteString("\n## Products and workflow keys\n\nBuilt-in product names by workflow definition key (`Source.Product`). Tenants have their own keys: the services read overrides from configuration (`ParseProducts`: `key=name` pairs separated by commas, or a JSON object); an empty name removes a built-in entry. Netverify results, which have no key, are looked up as `netverify.<kind>`.\n")
	tab := newTable(b, "key", "product", "source")
	for _, p := range defaultProducts {
		tab.row("`"+p.key+"`", p.name, p.source)
	}
	b.WriteString("\nNetverify `workflowId` → Platform workflow definition key (account requests; overrides with `ParseWorkflows`, e.g. `200=10011`):\n")
	tab = newTable(b, "workflowId", "key", "product", "capture method")
	for _, w := range defaultWorkflows {
		tab.row(strconv.Itoa(w.id), strconv.Itoa(w.key), w.product, cmp.Or(w.capture, "camera and upload"))
	}

	b.WriteString("\n## Netverify → result\n\n### verificationStatus\n\nThe overall decision, and the capabilities when no `rejectReason` says more. A similarity, liveness or additional check that did not pass lowers a PASSED decision (to WARNING or REJECTED).\n")
	tab = newTable(b, "verificationStatus", "decision", "capabilities", "confidence")
	for _, r := range verificationRows {
		var caps []string
		for _, tg := range r.targets {
			caps = append(caps, tg.capability+" "+string(tg.decision)+" / "+tg.label)
		}
		tab.row("`"+r.status+"`", string(r.decision), strings.Join(caps, "; "), r.confidence)
	}
	b.WriteString("\nStatus: `NO_ID_UPLOADED` (or retrieval `transaction.status` FAILED) is TOKEN_EXPIRED when nothing shows the user started (no `firstAttemptDate`, `idScanSource` WEB), SESSION_EXPIRED otherwise; retrieval PENDING is ACQUIRED; everything else PROCESSED.\n")

	b.WriteString("\n### rejectReason\n\nOne capability result per `rejectReasonDetails` entry (object or array), or one for the code when there are none; the reason keeps Netverify's code and detail code. The ID capabilities a rejected one depends on (usability → imageChecks → extraction → dataChecks) are PASSED / OK. An unknown detail falls back to its code's row; an unknown code gives imageChecks (DENIED_FRAUD) or usability (ERROR_NOT_READABLE_ID) REJECTED with Netverify's description as the label.\n")
	tab = newTable(b, "code", "detail", "Netverify name", "verificationStatus", "capability", "decision / label", "confidence")
	for _, r := range rejectRows {
		tab.row(r.code, r.detail, r.description, r.status, r.to.capability, string(r.to.decision)+" / "+r.to.label, r.confidence)
	}

	b.WriteString("\n### identityVerification\n")
	tab = newTable(b, "similarity", "similarity decision / label", "confidence")
	for _, r := range similarityRows {
		tab.row("`"+r.value+"`", string(r.decision)+" / "+r.label, r.confidence)
	}
	b.WriteString("\nAn unknown similarity is WARNING with the value as its label.\n")
	tab = newTable(b, "validity / reason", "liveness decision / label", "confidence")
	for _, r := range livenessRows {
		v := "FALSE, reason `" + r.value + "`"
		switch r.value {
		case "TRUE":
			v = "TRUE"
		case "":
			v = "FALSE, no reason"
		}
		tab.row(v, string(r.decision)+" / "+r.label, r.confidence)
	}
	b.WriteString("\nValidity arrives as a boolean or a string in any case; a value that is neither (`\"N/A\"`), or none, with no reason is unreadable (`identityVerification.validity`); so is a similarity that is missing (`identityVerification.similarity`). An unknown reason is REJECTED with the reason as its label.\n")

	b.WriteString("\n### Authentication (`transactionResult`)\n")
	tab = newTable(b, "transactionResult", "authentication decision / label", "confidence")
	for _, r := range authRows {
		tab.row("`"+r.value+"`", string(r.decision)+" / "+r.label, r.confidence)
	}
	b.WriteString("\nEXPIRED is status TOKEN_EXPIRED; the others PROCESSED. An unknown result is WARNING with the value as its label.\n")

	b.WriteString("\n### Document verification (`document.status`)\n")
	tab = newTable(b, "document.status", "usability decision / label", "confidence")
	for _, r := range documentRows {
		tab.row("`"+r.value+"`", string(r.decision)+" / "+r.label, r.confidence)
	}
	b.WriteString("\nEXTRACTED adds extraction PASSED / OK. No document status with `transaction.status` FAILED is SESSION_EXPIRED with usability NOT_EXECUTED / NOT_UPLOADED. `extractedData` is not mapped (its shape is not documented); it stays in the raw document of the enriched event.\n")

	b.WriteString("\n### Retrieval `additionalChecks` and `mrzCheck`\n")
	tab = newTable(b, "additionalChecks", "capability")
	for _, a := range additionalChecks {
		c := a.capability
		if c == capImageChecks {
			c = "imageChecks data (faceSearchFindings.status, faceSearchFindings.count)"
		}
		tab.row("`"+a.netverify+"`", c)
	}
	b.WriteString("\nUnknown checks keep their name as the capability name.\n")
	tab = newTable(b, "searchResults", "decision / label", "confidence")
	for _, r := range searchRows {
		tab.row("`"+r.value+"`", string(r.decision)+" / "+cmp.Or(r.label, "searchResponse (or searchReason)"), r.confidence)
	}
	tab = newTable(b, "watchlistScreening searchStatus", "decision / label", "confidence")
	for _, r := range watchlistRows {
		tab.row(r.value, string(r.decision)+" / "+r.label, r.confidence)
	}
	b.WriteString("\n`mrzCheck` is kept as dataChecks data.\n")

	b.WriteString("\n## Platform → result\n\nEvery capability entry is kept. Capability data is copied only for these keys (the rest may be personal data and stays in the raw document):\n")
	tab = newTable(b, "capability", "data keys")
	for _, c := range capabilityData {
		tab.row(c.capability, "`"+strings.Join(c.keys, "`, `")+"`")
	}
	b.WriteString("\nDocument and person come from the first extraction entry (by id) that passed and holds data.\n")

	b.WriteString("\n## Result → Netverify (legacy consumers)\n\n`mapping.LegacyStatus`, also in `verificationStatus` of Platform results:\n\n")
	b.WriteString(funcDoc(t, "LegacyStatus"))
	b.WriteString("\nPlatform labels with a Netverify reject code (the reverse of the table above, with the preferred code where several share a label):\n")
	tab = newTable(b, "capability", "label", "code", "detail")
	for _, l := range legacyRows {
		tab.row(l.capability, l.label, l.code, l.detail)
	}

	b.WriteString("\n## Netverify requests → Platform account request\n\nWhat cannot be carried over comes back as a warning naming the field (never its value) and saying what to do instead; unknown fields are warnings too. Only a body that is not a JSON object is an error.\n\n### `/initiate` (`FromNetverifyInitiate`)\n")
	tab = newTable(b, "Netverify", "account request", "how")
	for _, f := range initiateFields {
		tab.row("`"+f.netverify+"`", cmp.Or(f.platform, "not carried"), strings.TrimPrefix(f.note, "not carried: "))
	}
	b.WriteString("\n### `/performNetverify` (`FromPerformNetverify`)\n")
	tab = newTable(b, "Netverify", "account request", "how")
	for _, f := range performFields {
		tab.row("`"+f.netverify+"`", cmp.Or(f.platform, "not carried"), strings.TrimPrefix(f.note, "not carried: "))
	}
	b.WriteString("\n### `/initiate` response (`FromNetverifyInitiateResponse`)\n\nThe Platform account response that replaces Netverify's; `kycflow migrate-request` prints it for a response it is given.\n")
	tab = newTable(b, "Netverify", "account response", "how")
	for _, f := range append(slices.Clone(initiateResponseFields), responseAdded...) {
		tab.row(cmp.Or("`"+f.netverify+"`", "–"), "`"+f.platform+"`", f.note)
	}
	b.WriteString("\n### Success and error redirects (`FromNetverifyRedirect`)\n\nThe query parameters Netverify appended to the success and error URLs, and the Platform's; `kycflow migrate-request` rewrites a URL it is given, so that a handler can be ported parameter by parameter.\n")
	tab = newTable(b, "Netverify", "Platform", "how")
	for _, p := range redirectParams {
		tab.row(cmp.Or("`"+p.netverify+"`", "–"), "`"+p.platform+"`", p.note)
	}
	coverageTable(t, b)
	return b.String()
}

// coverageSummary is the count at the top of the page.
func coverageSummary(t *testing.T) string {
	return "**Coverage: " + countCoverage(readCoverage(t)).String() + ".** See [Coverage](#coverage) at the end: every value docs/jumio.md documents, what the mapping makes of it (checked through the real code by `TestCoverage`, from `pkg/mapping/testdata/coverage.tsv`), and where it deviates, why."
}

// coverageTable renders the coverage table.
func coverageTable(t *testing.T, b *strings.Builder) {
	rows := readCoverage(t)
	c := countCoverage(rows)
	fmt.Fprintf(b, "\n## Coverage\n\n%s.\n\n"+
		"Every value docs/jumio.md documents, by area: Netverify statuses, reject and detail codes, identityVerification values, "+
		"callback and retrieval fields, Platform statuses, decisions, every capability label, extraction data, details fields, "+
		"workflow keys, request, response and redirect fields. *maps* is what the mapping makes of the value, computed through the "+
		"real code by a probe per area (`coverage_probe_test.go`): \"→ path\" lists where a field lands in the result (\"—\": "+
		"nowhere), other rows the status, decision, reasons, capabilities and legacy view (*vs*: verificationStatus) the value gives. "+
		"*status*: mapped as docs/jumio.md says (which is often its own inference), or deviates, with the reason. *before*: how "+
		"the mapping treated the value before this table (questionable: carried, but not as docs/jumio.md says or without a reason; "+
		"missing: not carried). %d values deviate.\n", c, c.deviates)
	tab := newTable(b, "area", "value", "maps", "status", "before", "source", "note")
	for _, r := range rows {
		tab.row(r.Area, "`"+r.Value+"`", r.Maps, r.Status, r.Before, r.Source, r.Note)
	}
}
