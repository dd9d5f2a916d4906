package wire

import (
	"bytes"
	"net/url"
	"strings"

	"github.com/kycflow/kycflow/pkg/events"
)

// NetverifyForm reads a Netverify callback as Jumio sends it: an
// application/x-www-form-urlencoded body, the callback URL's query string,
// or both (Jumio's documentation describes each). It returns the fields
// merged as http.Request.ParseForm merges them (body values first) and the
// callback as it is stored: the body, then the query string, joined by '&'
// when both are present. A body or query string that is not URL-encoded
// gives a *CallbackError for field "body"; a field whose name or value,
// raw or decoded, is not valid UTF-8 text one that matches ErrInvalidUTF8.
func NetverifyForm(body []byte, rawQuery string) (values url.Values, raw string, err error) {
	body = bytes.TrimSpace(body)
	if err := checkForm(string(body)); err != nil {
		return nil, "", err
	}
	if err := checkForm(rawQuery); err != nil {
		return nil, "", err
	}
	raw = rawForm(body, rawQuery)
	if strings.Count(raw, "&")+1 > maxFormParams {
		// The stored form (body&query) must parse again as one.
		return nil, "", malformed("body")
	}
	values, err = url.ParseQuery(string(body))
	if err != nil {
		return nil, "", malformed("body")
	}
	if rawQuery != "" {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return nil, "", malformed("body")
		}
		for k, vs := range q {
			values[k] = append(values[k], vs...)
		}
	}
	return values, raw, nil
}

// rawForm is a Netverify callback as stored: the (trimmed) body, then the
// query string, joined by '&' when both are present.
func rawForm(body []byte, rawQuery string) string {
	switch {
	case len(body) == 0:
		return rawQuery
	case rawQuery == "":
		return string(body)
	}
	return string(body) + "&" + rawQuery
}

// ParseNetverifyRequest is NetverifyForm followed by ParseNetverifyCallback.
func ParseNetverifyRequest(body []byte, rawQuery string) (m *NetverifyMessage, raw string, err error) {
	return parseNetverifyRequest(body, rawQuery, ParseNetverifyCallback)
}

// ParseNetverifyRequestIDs is NetverifyForm followed by ParseNetverifyIDs,
// with the same results, but it decodes only the fields it keeps (the
// rest are checked for valid escapes and skipped).
func ParseNetverifyRequestIDs(body []byte, rawQuery string) (m *NetverifyMessage, raw string, err error) {
	// The fields of a callback as Jumio sends it (about 30) are kept on
	// the stack: only the event id reads them.
	var stack [64]events.FormField
	f, fields, raw, err := scanIDForm(body, rawQuery, stack[:0])
	if err != nil {
		return nil, "", err
	}
	m, err = parseForm(f, false)
	if err != nil {
		return nil, "", err
	}
	m.eventID = events.NetverifyEventID(fields)
	return m, raw, nil
}

func parseNetverifyRequest(body []byte, rawQuery string, parse func(url.Values) (*NetverifyMessage, error)) (*NetverifyMessage, string, error) {
	values, raw, err := NetverifyForm(body, rawQuery)
	if err != nil {
		return nil, "", err
	}
	m, err := parse(values)
	if err != nil {
		return nil, "", err
	}
	return m, raw, nil
}

// UserReference is the reference kycflow may have signed when initiating
// the transaction: userReference (authentication callbacks), else
// customerId (ID verification, where Jumio echoes the initiate request's
// userReference as customerId), else the document verification
// transaction's customerId.
func (m *NetverifyMessage) UserReference() string {
	switch {
	case m.Auth != nil:
		return m.Auth.UserReference
	case m.ID != nil:
		return m.ID.CustomerID
	case m.Document != nil:
		return string(m.Document.Transaction.CustomerID)
	}
	return ""
}
