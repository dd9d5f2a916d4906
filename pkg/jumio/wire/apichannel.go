package wire

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // registers JPEG for image.DecodeConfig
	_ "image/png"  // registers PNG for image.DecodeConfig
	"log/slog"
	"regexp"
	"strings"

	"github.com/kycflow/kycflow/pkg/events"
)

// Credential categories of a workflow execution (workflowDefinition.credentials,
// workflowExecution.credentials[].category).
const (
	CategoryID       = "ID"
	CategorySelfie   = "SELFIE"
	CategoryFacemap  = "FACEMAP"
	CategoryDocument = "DOCUMENT"
	CategoryData     = "DATA"
)

// Part classifiers the API channel uploads: FRONT and BACK of an ID
// credential, FACE of a SELFIE credential (JPEG or PNG images), and
// PREPARED_DATA of a DATA credential (JSON, PreparedData).
const (
	ClassifierFront        = "FRONT"
	ClassifierBack         = "BACK"
	ClassifierFace         = "FACE"
	ClassifierPreparedData = "PREPARED_DATA"
)

// CategoryOf returns the credential category a classifier is uploaded to
// through the API channel, and false for a classifier the API channel does
// not take (FACEMAP and liveness parts come from Jumio's own clients).
func CategoryOf(classifier string) (string, bool) {
	switch classifier {
	case ClassifierFront, ClassifierBack:
		return CategoryID, true
	case ClassifierFace:
		return CategorySelfie, true
	case ClassifierPreparedData:
		return CategoryData, true
	}
	return "", false
}

// Limits Jumio documents for an uploaded image: JPEG or PNG, at most 5 MB
// and 8000 × 8000 pixels. Jumio's 2023 API guide says 10 MB for the upload
// itself; the lower figure of the retrieval and credential pages is kept,
// so that nothing accepted here is refused there. A megabyte is 10^6 bytes.
const (
	MaxImageBytes     = 5_000_000
	MaxImageDimension = 8000
)

// Errors of CheckImage, matched with errors.Is. Their texts name the limit,
// never the content.
var (
	// ErrImageFormat: the bytes are not a JPEG or PNG image.
	ErrImageFormat = errors.New("jumio: image is neither JPEG nor PNG")
	// ErrImageTooLarge: more than MaxImageBytes.
	ErrImageTooLarge = errors.New("jumio: image larger than 5 MB")
	// ErrImageDimensions: wider or higher than MaxImageDimension, or empty.
	ErrImageDimensions = errors.New("jumio: image dimensions outside 1…8000 pixels")
)

// ImageInfo describes an image CheckImage accepted.
type ImageInfo struct {
	// Format is "jpeg" or "png"; ContentType the matching media type.
	Format, ContentType string
	Width, Height       int
	Bytes               int
}

// CheckImage checks an image against what Jumio accepts for a credential
// part (JPEG or PNG, MaxImageBytes, MaxImageDimension) by reading its
// header only; it does not decode the pixels. The client calls it before
// anything is sent, and the simulator on what it receives.
func CheckImage(b []byte) (ImageInfo, error) {
	if len(b) > MaxImageBytes {
		return ImageInfo{}, fmt.Errorf("%w: %d bytes", ErrImageTooLarge, len(b))
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil || (format != "jpeg" && format != "png") {
		return ImageInfo{}, ErrImageFormat
	}
	if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > MaxImageDimension || cfg.Height > MaxImageDimension {
		return ImageInfo{}, fmt.Errorf("%w: %d×%d", ErrImageDimensions, cfg.Width, cfg.Height)
	}
	return ImageInfo{Format: format, ContentType: "image/" + format, Width: cfg.Width, Height: cfg.Height, Bytes: len(b)}, nil
}

// PreparedData is the JSON a DATA credential's PREPARED_DATA part takes:
// the end user's data, for workflows that check it against data sources.
// It is personal data: it logs and prints as redacted.
type PreparedData struct {
	FirstName   string `json:"firstName,omitempty"`
	LastName    string `json:"lastName,omitempty"`
	Email       string `json:"email,omitempty"`
	PhoneNumber string `json:"phoneNumber,omitempty"`
	// DateOfBirth is YYYY-MM-DD.
	DateOfBirth string           `json:"dateOfBirth,omitempty"`
	Address     *PreparedAddress `json:"address,omitempty"`
}

// PreparedAddress is the address of PreparedData.
type PreparedAddress struct {
	Line1       string `json:"line1,omitempty"`
	Line2       string `json:"line2,omitempty"`
	City        string `json:"city,omitempty"`
	PostalCode  string `json:"postalCode,omitempty"`
	Subdivision string `json:"subdivision,omitempty"`
	// Country is ISO 3166-1 alpha-3.
	Country string `json:"country,omitempty"`
}

var (
	dateRE   = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	alpha3RE = regexp.MustCompile(`^[A-Z]{3}$`)
)

// Validate checks the shape of the data (a field at least, the date and
// country formats); its errors name fields, never values.
func (p PreparedData) Validate() error {
	var bad []string
	if p == (PreparedData{}) {
		bad = append(bad, "prepared data is empty")
	}
	if p.DateOfBirth != "" && !dateRE.MatchString(p.DateOfBirth) {
		bad = append(bad, "dateOfBirth is not YYYY-MM-DD")
	}
	if p.Address != nil && p.Address.Country != "" && !alpha3RE.MatchString(p.Address.Country) {
		bad = append(bad, "address.country is not ISO 3166-1 alpha-3")
	}
	for name, v := range map[string]string{"firstName": p.FirstName, "lastName": p.LastName, "email": p.Email, "phoneNumber": p.PhoneNumber} {
		if len(v) > 255 || strings.ContainsAny(v, "\x00\r\n") {
			bad = append(bad, name+" is longer than 255 or holds control characters")
		}
	}
	if len(bad) > 0 {
		return &RequestError{Problems: bad}
	}
	return nil
}

// LogValue logs nothing of the data.
func (p PreparedData) LogValue() slog.Value { return slog.StringValue(events.Redacted) }

// String prints nothing of the data.
func (p PreparedData) String() string { return events.Redacted }

// GoString prints nothing of the data.
func (p PreparedData) GoString() string { return events.Redacted }

// APIChannelResponse is the answer to an API-channel part upload (POST
// …/credentials/{id}/parts/{classifier}) and to finalization (PUT
// …/workflow-executions/{id}).
type APIChannelResponse struct {
	Timestamp         Time `json:"timestamp"`
	Account           Link `json:"account"`
	WorkflowExecution Link `json:"workflowExecution"`
}
