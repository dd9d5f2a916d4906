package main

import (
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// secretPlaceholder stands for the ingest path secret in printed URLs.
const secretPlaceholder = "<KYCFLOW_INGEST_PATH_SECRET>"

// callbackTargets are the URLs the callbacks go to. They may hold the
// ingest path secret: print them only through show.
type callbackTargets struct {
	platform, netverify string
	// secret is the path segment appended from KYCFLOW_INGEST_PATH_SECRET.
	secret string
	// missing says why one API's callbacks are not sent; "" when both are
	// (or neither URL was given).
	missing string
}

// resolveCallbacks appends the ingest path secret to the callback URLs of
// the flags and derives the one not given (jumiotest.ResolveCallbackURLs).
// With a secret, a URL given as kycflow's with a path segment already is a
// usage error: the segment would be doubled.
func resolveCallbacks(o options, secret string) (callbackTargets, error) {
	t := callbackTargets{secret: secret}
	given := []*string{&o.callbackURL, &o.callbackNetverifyURL}
	for i, u := range given {
		if *u == "" {
			continue
		}
		flagName := [...]string{"-callback-url", "-callback-netverify-url"}[i]
		p, err := url.ParseRequestURI(*u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return t, fmt.Errorf("%w: %s is not an http(s) URL", errUsage, flagName)
		}
		if secret == "" {
			continue
		}
		if _, seg, ok := jumiotest.IngestCallbackURL(*u); ok && seg {
			return t, fmt.Errorf("%w: %s ends in a path segment and KYCFLOW_INGEST_PATH_SECRET is set: give the URL without the segment", errUsage, flagName)
		}
		p.Path = strings.TrimSuffix(p.Path, "/") + "/" + secret
		p.RawPath = ""
		*u = p.String()
	}
	t.platform, t.netverify = jumiotest.ResolveCallbackURLs(o.callbackURL, o.callbackNetverifyURL)
	switch {
	case t.platform == "" && t.netverify == "":
	case t.netverify == "":
		t.missing = "no Netverify callbacks: -callback-url is not a kycflow ingest URL (…/callbacks/platform), so no Netverify URL can be derived from it; set -callback-netverify-url"
	case t.platform == "":
		t.missing = "no Platform callbacks: -callback-netverify-url is not a kycflow ingest URL (…/callbacks/netverify); set -callback-url"
	}
	return t, nil
}

// show returns u fit to print: the path secret, a path segment after
// /callbacks/<api> (a secret given on the command line) and a password
// are blanked out.
func (t callbackTargets) show(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	if t.secret != "" {
		if rest, ok := strings.CutSuffix(p.Path, "/"+t.secret); ok {
			p.Path = rest + "/" + secretPlaceholder
		}
	} else if api, seg, ok := jumiotest.IngestCallbackURL(u); ok && seg {
		i := strings.LastIndex(p.Path, "/callbacks/"+string(api)+"/")
		p.Path = p.Path[:i] + "/callbacks/" + string(api) + "/<secret>"
	}
	p.RawPath = ""
	return strings.NewReplacer("%3C", "<", "%3E", ">").Replace(p.Redacted())
}

// print says where the callbacks go, with the secret blanked out, and why
// an API's are not sent when the simulator has some of that API.
func (t callbackTargets) print(w io.Writer, executions, scans int) {
	if t.platform == "" && t.netverify == "" {
		return
	}
	inURL := false
	for _, c := range []struct {
		api events.API
		url string
	}{{events.APIPlatform, t.platform}, {events.APINetverify, t.netverify}} {
		if c.url == "" {
			continue
		}
		fmt.Fprintf(w, "  callbacks: %s to %s\n", c.api, t.show(c.url))
		_, seg, _ := jumiotest.IngestCallbackURL(c.url)
		inURL = inURL || (seg && t.secret == "")
	}
	if t.missing != "" && ((t.platform == "" && executions > 0) || (t.netverify == "" && scans > 0)) {
		fmt.Fprintln(w, "  callbacks:", t.missing)
	}
	if inURL {
		fmt.Fprintln(w, "  callbacks: a path secret belongs in KYCFLOW_INGEST_PATH_SECRET (or _FILE), not on the command line")
	}
}
