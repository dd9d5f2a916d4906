package main

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRun(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/readyz":
			_, _ = io.WriteString(w, "ready\n")
		case "/moved":
			http.Redirect(w, r, "/readyz", http.StatusFound)
		default:
			http.Error(w, "not ready", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	tests := []struct {
		name    string
		args    []string
		wantErr bool
		wantIs  error
	}{
		{name: "ready", args: []string{srv.URL + "/readyz"}},
		{name: "not ready", args: []string{srv.URL + "/other"}, wantErr: true, wantIs: errUnhealthy},
		{name: "redirect is not followed", args: []string{srv.URL + "/moved"}, wantErr: true, wantIs: errUnhealthy},
		{name: "nothing listening", args: []string{closedURL + "/readyz"}, wantErr: true},
		{name: "no URL", args: nil, wantErr: true},
		{name: "not http", args: []string{"file:///etc/passwd"}, wantErr: true},
		{name: "bad flag", args: []string{"-nope", srv.URL}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(t.Context(), tt.args, func(string) string { return "" }, io.Discard, io.Discard)
			if (err != nil) != tt.wantErr {
				t.Fatalf("run(%q) = %v, want error %v", tt.args, err, tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("run(%q) = %v, want %v", tt.args, err, tt.wantIs)
			}
		})
	}
}
