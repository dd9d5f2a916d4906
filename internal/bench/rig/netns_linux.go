package rig

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// bridgeNet is a private network on this machine: a bridge in the rig's
// network namespace, with the address .1, and a network namespace per
// server, each joined to the bridge by a veth pair and given the address
// .10, .11, … of a /24 that is chosen at random in 10.0.0.0/8 (so that
// runs side by side do not collide) and routed nowhere else.
type bridgeNet struct {
	id     string
	bridge string
	subnet string // "10.a.b."
	ns     []string
	veth   []string
}

// NetnsUnavailable says why the rig cannot run servers in network
// namespaces on this machine ("" when it can): it needs Linux, root and
// the ip command of iproute2.
func NetnsUnavailable() string {
	if os.Geteuid() != 0 {
		return "network namespaces need root"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "network namespaces need the ip command (iproute2)"
	}
	return ""
}

func newBridgeNet(ctx context.Context, n int) (_ *bridgeNet, err error) {
	if why := NetnsUnavailable(); why != "" {
		return nil, errors.New("rig: " + why)
	}
	var r [4]byte
	_, _ = rand.Read(r[:])
	b := &bridgeNet{id: hex.EncodeToString(r[:2])}
	b.bridge = "kfb" + b.id
	b.subnet = fmt.Sprintf("10.%d.%d.", 128+int(r[2])%64, r[3])
	defer func() {
		if err != nil {
			_ = b.close()
		}
	}()
	if err := ip(ctx, "link", "add", b.bridge, "type", "bridge"); err != nil {
		return nil, err
	}
	if err := ip(ctx, "addr", "add", b.subnet+"1/24", "dev", b.bridge); err != nil {
		return nil, err
	}
	if err := ip(ctx, "link", "set", b.bridge, "up"); err != nil {
		return nil, err
	}
	for i := range n {
		ns, veth := "kycflow-rig-"+b.id+"-"+strconv.Itoa(i), "kfv"+b.id+strconv.Itoa(i)
		if err := ip(ctx, "netns", "add", ns); err != nil {
			return nil, err
		}
		b.ns = append(b.ns, ns)
		if err := ip(ctx, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns); err != nil {
			return nil, err
		}
		b.veth = append(b.veth, veth)
		for _, args := range [][]string{
			{"link", "set", veth, "master", b.bridge},
			{"link", "set", veth, "up"},
			{"-n", ns, "addr", "add", b.addr(i) + "/24", "dev", "eth0"},
			{"-n", ns, "link", "set", "eth0", "up"},
			{"-n", ns, "link", "set", "lo", "up"},
		} {
			if err := ip(ctx, args...); err != nil {
				return nil, err
			}
		}
	}
	return b, nil
}

// addr is the address of server i.
func (b *bridgeNet) addr(i int) string { return b.subnet + strconv.Itoa(10+i) }

// exec is the command prefix that runs a program in server i's namespace.
func (b *bridgeNet) exec(i int) []string { return []string{"ip", "netns", "exec", b.ns[i]} }

// cut takes server i's link to the bridge down; heal brings it up.
func (b *bridgeNet) cut(ctx context.Context, i int) error {
	return ip(ctx, "link", "set", b.veth[i], "down")
}

func (b *bridgeNet) heal(ctx context.Context, i int) error {
	return ip(ctx, "link", "set", b.veth[i], "up")
}

// close removes the namespaces (and with them the veth pairs) and the
// bridge.
func (b *bridgeNet) close() error {
	ctx := context.Background()
	var errs []error
	for _, ns := range b.ns {
		errs = append(errs, ip(ctx, "netns", "del", ns))
	}
	if b.bridge != "" {
		errs = append(errs, ip(ctx, "link", "del", b.bridge))
	}
	return errors.Join(errs...)
}

// ip runs the ip command.
func ip(ctx context.Context, args ...string) error {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("rig: ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}
