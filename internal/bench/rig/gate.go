package rig

import (
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Gate is a TCP proxy on 127.0.0.1 in front of one backend, or in front
// of several as a load balancer does (a Kubernetes Service): each
// connection goes to the next backend in turn, skipping one that refuses
// it. Shut makes it an outage as clients see one: connections refused,
// open ones cut. Open listens again on the same port. Its methods are safe
// for concurrent use.
type Gate struct {
	backends []string
	next     atomic.Uint64
	addr     string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// NewGate opens a gate to backend ("127.0.0.1:port"), or a balancer over
// several backends.
func NewGate(backend string, more ...string) (*Gate, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("rig: gate: %w", err)
	}
	g := &Gate{backends: append([]string{backend}, more...), addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	g.serve(ln)
	return g, nil
}

// Addr is the gate's address; URL the same as an http:// base URL.
func (g *Gate) Addr() string { return g.addr }
func (g *Gate) URL() string  { return "http://" + g.addr }

func (g *Gate) serve(ln net.Listener) {
	g.mu.Lock()
	g.ln = ln
	g.mu.Unlock()
	g.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			g.wg.Go(func() { g.pipe(c) })
		}
	})
}

// dial connects to the next backend that accepts.
func (g *Gate) dial() (net.Conn, error) {
	var err error
	start := g.next.Add(1)
	for i := range uint64(len(g.backends)) {
		var b net.Conn
		if b, err = net.DialTimeout("tcp", g.backends[(start+i)%uint64(len(g.backends))], 5*time.Second); err == nil {
			return b, nil
		}
	}
	return nil, err
}

func (g *Gate) pipe(c net.Conn) {
	b, err := g.dial()
	if err != nil {
		c.Close()
		return
	}
	if !g.track(c, b) {
		c.Close()
		b.Close()
		return
	}
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go cp(b, c)
	go cp(c, b)
	<-done
	<-done
	g.untrack(c, b)
	c.Close()
	b.Close()
}

func (g *Gate) track(conns ...net.Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln == nil {
		return false
	}
	for _, c := range conns {
		g.conns[c] = struct{}{}
	}
	return true
}

func (g *Gate) untrack(conns ...net.Conn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range conns {
		delete(g.conns, c)
	}
}

// Shut stops listening and cuts every open connection.
func (g *Gate) Shut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln != nil {
		g.ln.Close()
		g.ln = nil
	}
	for c := range g.conns {
		c.Close()
	}
	clear(g.conns)
}

// Open listens again on the gate's address after Shut.
func (g *Gate) Open() error {
	var err error
	for range 100 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", g.addr); err == nil {
			g.serve(ln)
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("rig: gate: listen again on %s: %w", g.addr, err)
}

// Close shuts the gate for good and waits for its goroutines.
func (g *Gate) Close() {
	g.Shut()
	g.wg.Wait()
}
