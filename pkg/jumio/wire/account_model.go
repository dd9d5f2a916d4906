package wire

import (
	"regexp"
	"strings"
)

// AccountRequest is the body of the Account API's create (POST
// /api/v1/accounts) and update (PUT /api/v1/accounts/{id}) calls, which
// initiate a workflow execution.
// https://documentation.jumio.ai/docs/developer-resources/API/CreateUpdateAccounts/creating-and-updating-accounts
type AccountRequest struct {
	// CustomerInternalReference is required, 1–100 characters, no personal
	// data and none of <>"/;`%{}|.
	CustomerInternalReference string             `json:"customerInternalReference"`
	WorkflowDefinition        WorkflowDefinition `json:"workflowDefinition"`
	// UserReference is echoed in callbacks; 1–100 characters, no personal data.
	UserReference     string `json:"userReference,omitempty"`
	ReportingCriteria string `json:"reportingCriteria,omitempty"`
	// CallbackURL overrides the Portal setting; at most 255 characters.
	CallbackURL string `json:"callbackUrl,omitempty"`
	// TokenLifetime is a duration such as "30m", "2h" or "7d" (5m … 60d).
	TokenLifetime string       `json:"tokenLifetime,omitempty"`
	Web           *WebSettings `json:"web,omitempty"`
	UserConsent   *UserConsent `json:"userConsent,omitempty"`
}

// WorkflowDefinition selects the workflow and constrains its credentials.
type WorkflowDefinition struct {
	Key          int                    `json:"key"`
	Credentials  []CredentialDefinition `json:"credentials,omitempty"`
	Capabilities map[string]any         `json:"capabilities,omitempty"`
}

// CredentialDefinition constrains one credential category.
type CredentialDefinition struct {
	Category string      `json:"category"`
	Country  *Predefined `json:"country,omitempty"`
	Type     *Predefined `json:"type,omitempty"`
}

// Predefined is a list of allowed values, DEFINED (only these) or
// RECOMMENDED (preselected).
type Predefined struct {
	PredefinedType string   `json:"predefinedType,omitempty"`
	Values         []string `json:"values,omitempty"`
}

// WebSettings are the hosted web client settings.
type WebSettings struct {
	SuccessURL string `json:"successUrl,omitempty"`
	ErrorURL   string `json:"errorUrl,omitempty"`
	Locale     string `json:"locale,omitempty"`
}

// UserConsent records the end user's consent (required where biometrics
// are collected from US users).
type UserConsent struct {
	UserIP       string        `json:"userIp,omitempty"`
	UserLocation *UserLocation `json:"userLocation,omitempty"`
	Consent      *Consent      `json:"consent,omitempty"`
}

// UserLocation is the end user's location.
type UserLocation struct {
	Country string `json:"country,omitempty"`
	State   string `json:"state,omitempty"`
}

// Consent is whether and when consent was obtained ("yes", "no", "na").
type Consent struct {
	Obtained   string `json:"obtained,omitempty"`
	ObtainedAt string `json:"obtainedAt,omitempty"`
}

// AccountResponse is the Account API's response.
type AccountResponse struct {
	Timestamp Time `json:"timestamp"`
	Account   Link `json:"account"`
	Web       *struct {
		Href       string `json:"href,omitempty"`
		SuccessURL string `json:"successUrl,omitempty"`
		ErrorURL   string `json:"errorUrl,omitempty"`
	} `json:"web,omitempty"`
	SDK *struct {
		Token string `json:"token,omitempty"`
	} `json:"sdk,omitempty"`
	WorkflowExecution struct {
		ID          string                  `json:"id"`
		Credentials []AccountCredentialInfo `json:"credentials,omitempty"`
	} `json:"workflowExecution"`
}

// AccountCredentialInfo describes a credential to be acquired.
type AccountCredentialInfo struct {
	ID              string   `json:"id"`
	Category        string   `json:"category"`
	AllowedChannels []string `json:"allowedChannels,omitempty"`
	API             *struct {
		Token             string            `json:"token,omitempty"`
		Parts             map[string]string `json:"parts,omitempty"`
		WorkflowExecution string            `json:"workflowExecution,omitempty"`
	} `json:"api,omitempty"`
}

// Validate checks the limits Jumio documents for an account request; its
// errors name the field, never its value.
func (r AccountRequest) Validate() error {
	var bad []string
	n := len(r.CustomerInternalReference)
	switch {
	case n == 0:
		bad = append(bad, "customerInternalReference is required")
	case n > 100:
		bad = append(bad, "customerInternalReference is longer than 100")
	case strings.ContainsAny(r.CustomerInternalReference, "<>\"/;`%{}|"):
		bad = append(bad, "customerInternalReference holds one of <>\"/;`%{}|")
	}
	if r.WorkflowDefinition.Key <= 0 {
		bad = append(bad, "workflowDefinition.key is required")
	}
	if len(r.UserReference) > 100 {
		bad = append(bad, "userReference is longer than 100")
	}
	if len(r.ReportingCriteria) > 255 {
		bad = append(bad, "reportingCriteria is longer than 255")
	}
	if len(r.CallbackURL) > 255 {
		bad = append(bad, "callbackUrl is longer than 255")
	}
	if r.TokenLifetime != "" && !tokenLifetimeRE.MatchString(r.TokenLifetime) {
		bad = append(bad, "tokenLifetime is not like 30m, 2h or 7d")
	}
	if len(bad) > 0 {
		return &RequestError{Problems: bad}
	}
	return nil
}

// RequestError lists what is wrong with a request, by field name.
type RequestError struct{ Problems []string }

func (e *RequestError) Error() string { return strings.Join(e.Problems, "; ") }

// tokenLifetimeRE is Jumio's pattern for tokenLifetime.
var tokenLifetimeRE = regexp.MustCompile(`^[+-]?\d+[smhd]$`)
