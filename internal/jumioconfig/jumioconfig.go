// Package jumioconfig reads the Jumio client's configuration from
// KYCFLOW_JUMIO_* variables, so that every kycflow service that talks to
// Jumio is configured the same way. pkg/jumio stays free of internal/
// imports; its Config is plain.
package jumioconfig

import (
	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// LoadConfig reads the Jumio client variables. An unknown region is kept
// as given, so that jumio.NewClient reports it. Half a credential pair
// (an OAuth2 client id without its secret, …) is a problem recorded with
// e: it would otherwise leave kycflow without the credentials it was
// meant to have ("kycflow run" falls back to its simulator).
func LoadConfig(e *config.Env) jumio.Config {
	c := load(e)
	for _, p := range credentialPairs {
		id, secret := p.get(c)
		switch {
		case id != "" && secret == "":
			e.Invalid(p.secretKey, "%s is set but not %s: set both (%s) or neither", p.idKey, p.secretKey, p.what)
		case id == "" && secret != "":
			e.Invalid(p.idKey, "%s is set but not %s: set both (%s) or neither", p.secretKey, p.idKey, p.what)
		}
	}
	return c
}

// credentialPair is one kind of Jumio credentials: two variables that
// are set together.
type credentialPair struct {
	idKey, secretKey, what string
	get                    func(jumio.Config) (string, string)
}

var credentialPairs = []credentialPair{
	{"KYCFLOW_JUMIO_CLIENT_ID", "KYCFLOW_JUMIO_CLIENT_SECRET", "the OAuth2 client of the Platform APIs",
		func(c jumio.Config) (string, string) { return c.ClientID, c.ClientSecret }},
	{"KYCFLOW_JUMIO_NETVERIFY_API_TOKEN", "KYCFLOW_JUMIO_NETVERIFY_API_SECRET", "the Netverify API credentials",
		func(c jumio.Config) (string, string) { return c.NetverifyAPIToken, c.NetverifyAPISecret }},
	{"KYCFLOW_JUMIO_PLATFORM_API_TOKEN", "KYCFLOW_JUMIO_PLATFORM_API_SECRET", "Basic credentials of the Platform APIs",
		func(c jumio.Config) (string, string) { return c.PlatformAPIToken, c.PlatformAPISecret }},
}

// RequireCredentials records a problem with e when c holds no Jumio
// credentials at all, naming the variables that give some.
func RequireCredentials(e *config.Env, c jumio.Config) {
	if !HasCredentials(c) {
		e.Invalid("KYCFLOW_JUMIO_CLIENT_ID", "no Jumio credentials: set KYCFLOW_JUMIO_CLIENT_ID and KYCFLOW_JUMIO_CLIENT_SECRET (Platform), "+
			"KYCFLOW_JUMIO_NETVERIFY_API_TOKEN and KYCFLOW_JUMIO_NETVERIFY_API_SECRET (Netverify), or both pairs")
	}
}

func load(e *config.Env) jumio.Config {
	regionName := e.String("KYCFLOW_JUMIO_REGION", string(wire.RegionAMER), "Jumio region: amer-1, emea-1 or apac-1 (US, EU, SGP accepted)")
	region, err := wire.ParseRegion(regionName)
	if err != nil {
		region = wire.Region(regionName)
	}
	allowHTTP := e.Bool("KYCFLOW_JUMIO_ALLOW_HTTP", false, "accept plain http Jumio URLs on hosts other than loopback (a simulator on a container network); never with a real tenant")
	baseURL := func(key, help string) string {
		v := e.String(key, "", help)
		if v != "" {
			e.Check(key, jumio.CheckBaseURL(v, allowHTTP))
		}
		return v
	}
	return jumio.Config{
		Region: region,
		Hosts: wire.Hosts{
			Auth:      baseURL("KYCFLOW_JUMIO_AUTH_URL", "OAuth2 token service base URL; default the region's"),
			Account:   baseURL("KYCFLOW_JUMIO_ACCOUNT_URL", "Account API base URL; default the region's"),
			API:       baseURL("KYCFLOW_JUMIO_API_URL", "upload API base URL; default the region's"),
			Retrieval: baseURL("KYCFLOW_JUMIO_RETRIEVAL_URL", "Retrieval API base URL; default the region's"),
			Netverify: baseURL("KYCFLOW_JUMIO_NETVERIFY_URL", "Netverify API base URL; default the region's"),
			Status:    baseURL("KYCFLOW_JUMIO_STATUS_URL", "Jumio status (health) endpoint base URL; default the region's"),
		},
		AllowHTTP:          allowHTTP,
		ClientID:           e.String("KYCFLOW_JUMIO_CLIENT_ID", "", "OAuth2 client id"),
		ClientSecret:       e.Secret("KYCFLOW_JUMIO_CLIENT_SECRET", "OAuth2 client secret").Value(),
		PlatformAPIToken:   e.Secret("KYCFLOW_JUMIO_PLATFORM_API_TOKEN", "API token for deprecated Basic auth on the Platform APIs, used without an OAuth2 client").Value(),
		PlatformAPISecret:  e.Secret("KYCFLOW_JUMIO_PLATFORM_API_SECRET", "API secret for deprecated Basic auth on the Platform APIs").Value(),
		NetverifyAPIToken:  e.Secret("KYCFLOW_JUMIO_NETVERIFY_API_TOKEN", "Netverify API token (Basic auth)").Value(),
		NetverifyAPISecret: e.Secret("KYCFLOW_JUMIO_NETVERIFY_API_SECRET", "Netverify API secret (Basic auth)").Value(),
		UserAgent:          e.String("KYCFLOW_JUMIO_USER_AGENT", jumio.DefaultUserAgent, "User-Agent sent to Jumio, naming your company and application"),
		Timeout:            e.PositiveDuration("KYCFLOW_JUMIO_TIMEOUT", jumio.DefaultTimeout, "time allowed for one attempt of one Jumio request"),
		MaxAttempts:        e.IntMin("KYCFLOW_JUMIO_MAX_ATTEMPTS", jumio.DefaultMaxAttempts, 1, "attempts of one call on transient failures"),
		RateLimit:          e.PositiveFloat("KYCFLOW_JUMIO_RATE_LIMIT", jumio.DefaultRateLimit, "Retrieval API requests per second per process"),
		RateBurst:          e.IntMin("KYCFLOW_JUMIO_RATE_BURST", jumio.DefaultRateBurst, 1, "Retrieval API requests that may start at once"),
		RateLimitCooldown:  e.PositiveDuration("KYCFLOW_JUMIO_RATE_LIMIT_COOLDOWN", jumio.DefaultRateLimitCooldown, "how long the rate stays halved after a 429"),
		BulkBurst:          e.IntMin("KYCFLOW_JUMIO_BULK_BURST", jumio.DefaultBulkBurst, 1, "requests of the burst the bulk lanes (reconcile, replay, migrate) may use; the rest is kept for live callbacks"),
		LaneWeights:        laneWeights(e),
		TokenRateLimit:     e.PositiveFloat("KYCFLOW_JUMIO_TOKEN_RATE_LIMIT", jumio.DefaultTokenRateLimit, "OAuth2 token requests per second"),
		AccountRateLimit:   e.PositiveFloat("KYCFLOW_JUMIO_ACCOUNT_RATE_LIMIT", jumio.DefaultAccountRateLimit, "Account API requests per second"),
		APIRateLimit:       e.PositiveFloat("KYCFLOW_JUMIO_API_RATE_LIMIT", jumio.DefaultAPIRateLimit, "API-channel requests (uploads, finalization) per second"),
		TokenRefreshAhead:  e.PositiveDuration("KYCFLOW_JUMIO_TOKEN_REFRESH_AHEAD", jumio.DefaultTokenRefreshAhead, "how long before expiry the OAuth2 token is replaced"),
		MaxRetryAfter:      e.PositiveDuration("KYCFLOW_JUMIO_MAX_RETRY_AFTER", jumio.DefaultMaxRetryAfter, "longest pause a 429's Retry-After imposes on every request"),
		MaxImageBytes:      e.PositiveSize("KYCFLOW_JUMIO_MAX_IMAGE_SIZE", jumio.DefaultMaxImageBytes, "largest image accepted from Jumio (KiB, MiB suffixes)"),
		MaxResponseBytes:   e.PositiveSize("KYCFLOW_JUMIO_MAX_RESPONSE_SIZE", jumio.DefaultMaxResponseBytes, "largest JSON response accepted from Jumio"),
	}
}

// laneWeights reads KYCFLOW_JUMIO_LANE_WEIGHTS.
func laneWeights(e *config.Env) map[jumio.Lane]int {
	v := e.Checked("KYCFLOW_JUMIO_LANE_WEIGHTS", jumio.FormatLaneWeights(jumio.DefaultLaneWeights),
		"shares of the bulk lanes in what live callbacks leave of the Jumio budget", func(s string) error {
			_, err := jumio.ParseLaneWeights(s)
			return err
		})
	w, _ := jumio.ParseLaneWeights(v)
	return w
}

// HasCredentials reports whether c holds credentials for some Jumio API:
// an OAuth2 client, Basic credentials for the Platform APIs, or Netverify
// API credentials. Without any, "kycflow run" uses its Jumio simulator.
func HasCredentials(c jumio.Config) bool {
	return c.ClientID != "" && c.ClientSecret != "" ||
		c.PlatformAPIToken != "" && c.PlatformAPISecret != "" ||
		c.NetverifyAPIToken != "" && c.NetverifyAPISecret != ""
}
