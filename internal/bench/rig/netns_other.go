//go:build !linux

package rig

import (
	"context"
	"errors"
)

type bridgeNet struct{}

// NetnsUnavailable says why the rig cannot run servers in network
// namespaces: only Linux has them.
func NetnsUnavailable() string { return "network namespaces are Linux's" }

func newBridgeNet(context.Context, int) (*bridgeNet, error) {
	return nil, errors.New("rig: " + NetnsUnavailable())
}

func (*bridgeNet) addr(int) string                 { return "" }
func (*bridgeNet) exec(int) []string               { return nil }
func (*bridgeNet) cut(context.Context, int) error  { return nil }
func (*bridgeNet) heal(context.Context, int) error { return nil }
func (*bridgeNet) close() error                    { return nil }
