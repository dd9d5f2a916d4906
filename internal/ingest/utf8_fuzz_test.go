package ingest

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
	"github.com/kycflow/kycflow/pkg/mapping"
)

// FuzzStoredCallbacksAreUTF8 reads fuzzed Platform bodies and Netverify
// forms and query strings as ingest does and, for every callback it would
// store, checks what would be stored and every result made from it: the
// stored message is valid UTF-8 and decodes (as the enricher decodes it)
// to valid UTF-8 text, without U+FFFD replacing what could not be read;
// the enricher's own parse accepts it; and the normalized result mapped
// from it, as the enricher maps it, holds only valid UTF-8 strings and no
// U+FFFD the input did not hold. Invalid text is never stored to be
// replaced later: ingest refuses it (422).
func FuzzStoredCallbacksAreUTF8(f *testing.F) {
	for _, dir := range []string{"platform", "netverify"} {
		files, _ := filepath.Glob(filepath.Join("../../pkg/jumio/testdata", dir, "callback-*"))
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(dir == "netverify", b, "")
		}
	}
	processed, _ := os.ReadFile("../../pkg/jumio/testdata/platform/callback-processed.json")
	approved, _ := os.ReadFile("../../pkg/jumio/testdata/netverify/callback-approved-verified.form")
	f.Add(false, bytes.Replace(processed, []byte("usr_7f3a9c"), []byte("usr_\xff"), 1), "")
	f.Add(false, bytes.Replace(processed, []byte("usr_7f3a9c"), []byte(`usr_\ud800`), 1), "")
	f.Add(true, bytes.Replace(approved, []byte("idFirstName=JANE"), []byte("idFirstName=%FF%FE"), 1), "")
	f.Add(true, approved, "idLastName=%C3")
	f.Add(true, []byte(nil), string(bytes.TrimSpace(approved))+"&idFirstName=J%C3%A9r%C3%B4me")

	s := fuzzService(f)
	f.Fuzz(func(t *testing.T, netverify bool, body []byte, query string) {
		path, ct, read := "/callbacks/platform", "application/json", s.readPlatform
		if netverify {
			path, ct, read = "/callbacks/netverify", "application/x-www-form-urlencoded", s.readNetverify
		}
		r := &http.Request{
			Method: http.MethodPost, URL: &url.URL{Path: path, RawQuery: query},
			Header: http.Header{"Content-Type": {ct}}, ContentLength: int64(len(body)),
			Body: io.NopCloser(bytes.NewReader(body)),
		}
		var buf bytes.Buffer
		ev, _, rj := read(r, &buf, time.Unix(1700000000, 0))
		if rj != nil {
			return // refused: nothing is stored
		}
		// The input may hold U+FFFD itself, literally, percent-encoded or
		// as a JSON escape; only then may the output hold one.
		in := strings.ToLower(string(body) + query)
		hadFFFD := strings.Contains(in, "\uFFFD") || strings.Contains(in, "fffd") || strings.Contains(in, "%ef%bf%bd")

		stored, err := appendEvent(nil, ev)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		if !utf8.Valid(stored) {
			t.Fatalf("stored callback is not valid UTF-8: %q", stored)
		}
		var dec events.CallbackEvent
		if err := json.Unmarshal(stored, &dec); err != nil {
			t.Fatalf("stored callback does not decode: %v", err)
		}
		checkText(t, "stored callback", dec, hadFFFD)
		var raw any
		if len(dec.JSON) > 0 {
			if err := json.Unmarshal(dec.JSON, &raw); err != nil {
				t.Fatalf("stored Platform JSON does not decode: %v", err)
			}
			checkText(t, "stored Platform JSON", raw, hadFFFD)
		}

		// The result, as the enricher makes it.
		var res events.Result
		switch dec.API {
		case events.APIPlatform:
			res = mapping.FromPlatform(dec, nil, nil)
		case events.APINetverify:
			values, _, err := wire.NetverifyForm([]byte(dec.Form), "")
			if err != nil {
				t.Fatalf("ingest stored a form the enricher refuses: %v", err)
			}
			checkText(t, "stored form fields", values, hadFFFD)
			m, err := wire.ParseNetverifyCallback(values)
			if err != nil {
				t.Fatalf("ingest stored a callback the enricher refuses: %v", err)
			}
			res = mapping.FromNetverify(dec, m, nil)
		}
		checkText(t, "result", res, hadFFFD)
	})
}

// fuzzService is a Service that reads callbacks and stores nothing.
func fuzzService(tb testing.TB) *Service {
	m, err := newMetrics(noop.NewMeterProvider())
	if err != nil {
		tb.Fatal(err)
	}
	cfg := Config{}
	cfg.setDefaults()
	return &Service{cfg: cfg, region: cfg.region(), metrics: m, logger: slog.New(slog.DiscardHandler)}
}

// checkText fails when a string anywhere in v is not valid UTF-8, or
// holds U+FFFD while the input held none.
func checkText(t *testing.T, what string, v any, hadFFFD bool) {
	t.Helper()
	var walk func(reflect.Value, string)
	walk = func(v reflect.Value, at string) {
		switch v.Kind() {
		case reflect.String:
			s := v.String()
			if !utf8.ValidString(s) {
				t.Fatalf("%s: %s is not valid UTF-8: %q", what, at, s)
			}
			if !hadFFFD && strings.ContainsRune(s, utf8.RuneError) {
				t.Fatalf("%s: %s holds U+FFFD the input did not: %q", what, at, s)
			}
		case reflect.Pointer, reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem(), at)
			}
		case reflect.Struct:
			for i := range v.NumField() {
				if v.Type().Field(i).IsExported() {
					walk(v.Field(i), at+"."+v.Type().Field(i).Name)
				}
			}
		case reflect.Slice, reflect.Array:
			if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
				walk(reflect.ValueOf(string(v.Bytes())), at) // raw JSON
				return
			}
			for i := range v.Len() {
				walk(v.Index(i), at+"[]")
			}
		case reflect.Map:
			for it := v.MapRange(); it.Next(); {
				walk(it.Key(), at+"{key}")
				walk(it.Value(), at+"{}")
			}
		}
	}
	walk(reflect.ValueOf(v), "")
}
