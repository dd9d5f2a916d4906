package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/internal/jumioconfig"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// apiChannelFlags registers the flags that send images through Jumio's API
// channel instead of handing the end user a web link.
func apiChannelFlags(fs *flag.FlagSet) {
	fs.String("front", "", "image file (JPEG or PNG, at most 5 MB and 8000×8000) of the document's front: upload it through the API channel and finalize")
	fs.String("back", "", "image file of the document's back (with --front)")
	fs.String("face", "", "image file of the end user's face, for workflows with a SELFIE credential (with --front)")
	fs.String("prepared-data", "", "JSON file of a DATA credential's prepared data (firstName, lastName, dateOfBirth, address, …)")
}

// maxImageFile bounds what is read of an image file: one byte past Jumio's
// limit is enough to refuse it.
const maxImageFile = wire.MaxImageBytes + 1

// readAcquisition reads the files the API-channel flags name and checks
// them as Jumio would (wire.CheckImage, PreparedData.Validate), before any
// transaction is created. It returns nil when no such flag is set.
func readAcquisition(fs *flag.FlagSet) (*jumio.Acquisition, error) {
	front, back, face, data := strFlag(fs, "front"), strFlag(fs, "back"), strFlag(fs, "face"), strFlag(fs, "prepared-data")
	if front == "" && back == "" && face == "" && data == "" {
		return nil, nil
	}
	if front == "" {
		return nil, usageError("--back, --face and --prepared-data go with --front")
	}
	var a jumio.Acquisition
	var errs []error
	for _, f := range []struct {
		flag, path string
		dst        *[]byte
	}{{"front", front, &a.Front}, {"back", back, &a.Back}, {"face", face, &a.Face}} {
		if f.path == "" {
			continue
		}
		b, err := readFileCapped(f.path, maxImageFile)
		if err == nil {
			_, err = wire.CheckImage(b)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("--%s %s: %w", f.flag, f.path, err))
			continue
		}
		*f.dst = b
	}
	if data != "" {
		b, err := readFileCapped(data, 64<<10)
		var pd wire.PreparedData
		if err == nil {
			dec := json.NewDecoder(strings.NewReader(string(b)))
			dec.DisallowUnknownFields()
			if dec.Decode(&pd) != nil {
				err = errors.New("not prepared data JSON (firstName, lastName, email, phoneNumber, dateOfBirth, address)")
			} else {
				err = pd.Validate()
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("--prepared-data %s: %w", data, err))
		} else {
			a.PreparedData = &pd
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, usageError("%v", err)
	}
	return &a, nil
}

// readFileCapped reads a file of at most limit bytes (more is read as
// limit+1, for the caller's size check).
func readFileCapped(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit+1))
}

// acquire sends an Acquisition through the API channel of the execution
// just created and says so on w. The images are personal data: nothing
// of them is printed.
func acquire(ctx context.Context, w io.Writer, client *jumio.Client, resp *wire.AccountResponse, a jumio.Acquisition) error {
	ch, err := jumio.NewAPIChannel(resp)
	if err != nil {
		return err
	}
	if _, err := client.Acquire(ctx, ch, a); err != nil {
		return err
	}
	var parts []string
	for _, p := range []struct {
		name string
		set  bool
	}{{wire.ClassifierFront, a.Front != nil}, {wire.ClassifierBack, a.Back != nil}, {wire.ClassifierFace, a.Face != nil},
		{wire.ClassifierPreparedData, a.PreparedData != nil}} {
		if p.set {
			parts = append(parts, p.name)
		}
	}
	fmt.Fprintf(w, "  API channel         %s uploaded, finalized: Jumio processes it and calls back\n", strings.Join(parts, ", "))
	return nil
}

// jumioClient is the Jumio client of an operator command: the KYCFLOW_JUMIO_*
// configuration, or without credentials the simulator of --simulator or of
// the local kycflow run (initiateTarget). target says which, for messages.
func jumioClient(env Env, fs *flag.FlagSet, cmd string) (*jumio.Client, string, error) {
	e := config.New(env.Getenv)
	jc := jumioconfig.LoadConfig(e)
	if err := e.Err(); err != nil {
		return nil, "", err
	}
	jc, target, err := initiateTarget(env, fs, jc)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", cmd, err)
	}
	c, err := jumio.NewClient(jc)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", cmd, err)
	}
	return c, target, nil
}

// performImages reads the base64 images of a /performNetverify body
// (frontsideImage, backsideImage, faceImage; a data: URL prefix is
// tolerated) and the data a DATA credential can take (firstName,
// lastName, dob). Errors name the field, never its content.
func performImages(body []byte) (jumio.Acquisition, *wire.PreparedData, error) {
	var f struct {
		Front     string `json:"frontsideImage"`
		Back      string `json:"backsideImage"`
		Face      string `json:"faceImage"`
		FirstName string `json:"firstName"`
		LastName  string `json:"lastName"`
		DOB       string `json:"dob"`
	}
	if err := json.Unmarshal(body, &f); err != nil {
		return jumio.Acquisition{}, nil, errors.New("the request is not a /performNetverify JSON object")
	}
	var a jumio.Acquisition
	var errs []error
	for _, x := range []struct {
		field, v string
		dst      *[]byte
	}{{"frontsideImage", f.Front, &a.Front}, {"backsideImage", f.Back, &a.Back}, {"faceImage", f.Face, &a.Face}} {
		if strings.TrimSpace(x.v) == "" {
			continue
		}
		b, err := decodeBase64Image(x.v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", x.field, err))
			continue
		}
		*x.dst = b
	}
	if a.Front == nil && len(errs) == 0 {
		errs = append(errs, errors.New("frontsideImage: missing (the API channel needs the document's front)"))
	}
	var pd *wire.PreparedData
	if f.FirstName != "" || f.LastName != "" || f.DOB != "" {
		pd = &wire.PreparedData{FirstName: f.FirstName, LastName: f.LastName, DateOfBirth: f.DOB}
	}
	return a, pd, errors.Join(errs...)
}

// decodeBase64Image decodes a base64 image, with or without padding,
// line breaks or a data: URL prefix, and checks it (wire.CheckImage).
func decodeBase64Image(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "data:"); ok {
		_, data, found := strings.Cut(rest, ",")
		if !found {
			return nil, errors.New("data URL without a comma")
		}
		s = data
	}
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, s)
	if base64.StdEncoding.DecodedLen(len(s)) > 2*wire.MaxImageBytes {
		return nil, wire.ErrImageTooLarge
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "=")); err != nil {
			return nil, errors.New("not base64")
		}
	}
	if _, err := wire.CheckImage(b); err != nil {
		return nil, err
	}
	return b, nil
}
