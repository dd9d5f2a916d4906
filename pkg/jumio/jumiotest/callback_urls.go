package jumiotest

import (
	"net/url"
	"regexp"

	"github.com/kycflow/kycflow/pkg/events"
)

// ingestPathRE matches the path of a kycflow ingest callback URL:
// <prefix>/callbacks/<api>, optionally followed by one segment (the ingest
// path secret).
var ingestPathRE = regexp.MustCompile(`^(.*/callbacks/)(platform|netverify)(/[^/]+)?$`)

// IngestCallbackURL parses a kycflow ingest callback URL: one whose path
// ends in /callbacks/platform or /callbacks/netverify, optionally followed
// by one path segment (KYCFLOW_INGEST_PATH_SECRET). It returns the API the
// URL is for and whether it has that segment; ok is false for any other
// URL.
func IngestCallbackURL(raw string) (api events.API, hasSegment, ok bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return "", false, false
	}
	m := ingestPathRE.FindStringSubmatch(u.Path)
	if m == nil {
		return "", false, false
	}
	return events.API(m[2]), m[3] != "", true
}

// siblingCallbackURL returns the URL of api's callbacks on the kycflow
// ingest endpoint that raw points at: the same scheme, host, prefix and
// path segment, with /callbacks/<api>. ok is false when raw is not an
// ingest callback URL (IngestCallbackURL).
func siblingCallbackURL(raw string, api events.API) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return "", false
	}
	m := ingestPathRE.FindStringSubmatch(u.Path)
	if m == nil {
		return "", false
	}
	u.Path = m[1] + string(api) + m[3]
	u.RawPath = ""
	return u.String(), true
}

// ResolveCallbackURLs completes the pair of URLs that Platform and
// Netverify callbacks go to, for a kycflow ingest endpoint, which serves
// the two APIs on different paths (/callbacks/platform[/<secret>] takes
// JSON, /callbacks/netverify[/<secret>] forms). An empty one is derived
// from the other when that is an ingest callback URL (IngestCallbackURL):
// same prefix and secret segment, the other API's path. A lone URL given
// for Netverify's path is used for Netverify and its Platform sibling for
// Platform. A URL that cannot be derived is returned empty; callers then
// skip that API's callbacks or, for a receiver that takes both, post them
// to the other URL.
func ResolveCallbackURLs(platformURL, netverifyURL string) (platform, netverify string) {
	if netverifyURL == "" {
		if api, _, ok := IngestCallbackURL(platformURL); ok && api == events.APINetverify {
			platformURL, netverifyURL = "", platformURL
		}
	}
	if platformURL == "" {
		platformURL, _ = siblingCallbackURL(netverifyURL, events.APIPlatform)
	}
	if netverifyURL == "" {
		netverifyURL, _ = siblingCallbackURL(platformURL, events.APINetverify)
	}
	return platformURL, netverifyURL
}
