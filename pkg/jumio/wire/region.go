package wire

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
)

// Region is a Jumio data center.
type Region string

// Jumio's regions.
const (
	RegionAMER Region = "amer-1" // US
	RegionEMEA Region = "emea-1" // EU
	RegionAPAC Region = "apac-1" // Singapore
)

// Regions lists every known region.
var Regions = []Region{RegionAMER, RegionEMEA, RegionAPAC}

// ErrUnknownRegion is returned for a region that is not one of Regions.
var ErrUnknownRegion = fmt.Errorf("jumio: unknown region")

// ParseRegion checks that s names a known region ("US", "EU" and "SGP" are
// accepted as aliases).
func ParseRegion(s string) (Region, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "amer-1", "us", "amer":
		return RegionAMER, nil
	case "emea-1", "eu", "emea":
		return RegionEMEA, nil
	case "apac-1", "sgp", "sg", "apac":
		return RegionAPAC, nil
	}
	return "", fmt.Errorf("%w %q (want amer-1, emea-1 or apac-1)", ErrUnknownRegion, s)
}

// Hosts are the base URLs of one region's Jumio services. Every field can be
// overridden, to point a client at jumiotest or a proxy.
type Hosts struct {
	// Auth is the OAuth2 token service (https://auth.<region>.jumio.ai).
	Auth string
	// Account is the Account API (https://account.<region>.jumio.ai).
	Account string
	// API is the upload and finalize API (https://api.<region>.jumio.ai).
	API string
	// Retrieval is the Retrieval API (https://retrieval.<region>.jumio.ai).
	Retrieval string
	// Netverify is the legacy Netverify host of the region.
	Netverify string
	// Status is Jumio's health endpoint (https://status.<region>.jumio.ai),
	// which needs no credentials.
	Status string
}

// RegionHosts returns Jumio's published hosts for r.
func RegionHosts(r Region) Hosts {
	nv := map[Region]string{
		RegionAMER: "https://netverify.com",
		RegionEMEA: "https://lon.netverify.com",
		RegionAPAC: "https://core-sgp.jumio.com",
	}[r]
	return Hosts{
		Auth:      "https://auth." + string(r) + ".jumio.ai",
		Account:   "https://account." + string(r) + ".jumio.ai",
		API:       "https://api." + string(r) + ".jumio.ai",
		Retrieval: "https://retrieval." + string(r) + ".jumio.ai",
		Netverify: nv,
		Status:    "https://status." + string(r) + ".jumio.ai",
	}
}

// RegionFromHref returns the region named by a Jumio URL's host
// (<service>.<region>.jumio.ai), and false when the URL is not a Jumio
// Platform URL. The URL is only parsed, never fetched.
func RegionFromHref(href string) (Region, bool) {
	host, ok := plainHTTPSHost(href)
	if !ok {
		u, err := url.Parse(href)
		if err != nil || u.Host == "" {
			return "", false
		}
		host = u.Hostname()
	}
	rest, ok := strings.CutSuffix(strings.ToLower(host), ".jumio.ai")
	if !ok {
		return "", false
	}
	// At least two labels: <service>.<region>.
	i := strings.LastIndexByte(rest, '.')
	if i < 0 {
		return "", false
	}
	r := Region(rest[i+1:])
	if !slices.Contains(Regions, r) {
		return "", false
	}
	return r, true
}

// plainHTTPSHost returns the host of an https URL made only of letters,
// digits and "-._~/" after its scheme, as url.Parse would (such a URL always
// parses, and has no port, user or escapes), without parsing it; for any
// other URL it reports false. Jumio's hrefs are such URLs.
func plainHTTPSHost(href string) (string, bool) {
	rest, ok := strings.CutPrefix(href, "https://")
	if !ok {
		return "", false
	}
	end := len(rest)
	for i := range len(rest) {
		switch c := rest[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == '~':
		case c == '/':
			end = min(end, i)
		default:
			return "", false
		}
	}
	if end == 0 {
		return "", false
	}
	return rest[:end], true
}

// CallbackIPs returns the source addresses Jumio documents for callbacks
// from region r: the union of the Platform and the Netverify lists, which
// differ for the US.
// https://documentation.jumio.ai/docs/developer-resources/callback
func CallbackIPs(r Region) []netip.Addr {
	var out []netip.Addr
	for _, s := range callbackIPs[r] {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

var callbackIPs = map[Region][]string{
	RegionAMER: {
		// Platform
		"34.202.241.227", "34.226.103.119", "34.226.254.127", "52.8.136.236", "54.177.61.57", "54.183.15.212",
		// Netverify (callback.jumio.com)
		"52.52.51.178", "52.53.95.123", "54.67.101.173",
	},
	RegionEMEA: {
		"34.253.41.236", "35.157.27.193", "52.48.0.25", "52.57.194.92", "52.58.113.86", "52.209.180.134",
	},
	RegionAPAC: {
		"3.0.109.121", "52.76.184.73", "52.77.102.92", "13.238.100.17", "13.238.203.238", "52.64.132.26",
	},
}
