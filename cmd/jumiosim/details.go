package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// detailsError is a -details file the simulator cannot serve. It names the
// file and what is wrong with it, never the file's contents (fixtures may
// hold personal data).
type detailsError struct {
	// Path is the file (or the directory, when it has no files to load).
	Path string
	// Reason says what is wrong, without quoting the file.
	Reason string
}

func (e *detailsError) Error() string { return "-details: " + e.Path + ": " + e.Reason }

// loadDetails adds an execution to srv for every *.json file in dir, each a
// Platform workflow details document (as the Retrieval API returns it), in
// file name order. Two files with the same workflow execution id are an
// error: the second would silently replace the first.
func loadDetails(srv *jumiotest.Server, dir string) (int, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return 0, &detailsError{Path: dir, Reason: "bad directory name"}
	}
	if len(paths) == 0 {
		reason := "no *.json files"
		if _, err := os.Stat(dir); err != nil {
			reason = "cannot read the directory: " + fsReason(err)
		}
		return 0, &detailsError{Path: dir, Reason: reason}
	}
	seen := map[string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return 0, &detailsError{Path: p, Reason: "cannot read: " + fsReason(err)}
		}
		var d wire.WorkflowDetails
		if err := json.Unmarshal(b, &d); err != nil {
			return 0, &detailsError{Path: p, Reason: decodeReason(err)}
		}
		if !wire.ValidID(d.Account.ID) || !wire.ValidID(d.Workflow.ID) {
			return 0, &detailsError{Path: p, Reason: "not Platform workflow details: account.id and workflow.id must be UUIDs"}
		}
		if first, ok := seen[d.Workflow.ID]; ok {
			return 0, &detailsError{Path: p, Reason: "same workflow.id as " + first}
		}
		seen[d.Workflow.ID] = p
		if _, err := srv.AddDetails(b); err != nil {
			return 0, &detailsError{Path: p, Reason: "not Platform workflow details"}
		}
	}
	return len(paths), nil
}

// fsReason is the cause of a file system error without the path, which
// the detailsError names already.
func fsReason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// decodeReason describes a JSON decoding error by position or field only:
// the errors of encoding/json and of jumio's tolerant types may quote the
// offending value.
func decodeReason(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("not JSON (syntax error at byte %d)", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		// jumio's tolerant decoding embeds the details in a type named
		// plain, which encoding/json puts into the path.
		return fmt.Sprintf("not Platform workflow details: field %s has the wrong type", strings.TrimPrefix(te.Field, "plain."))
	}
	return "not Platform workflow details: a field has a value of the wrong kind"
}
