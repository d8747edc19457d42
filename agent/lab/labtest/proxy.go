package labtest

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy is a TCP relay a test puts in front of the lab's DC or tenant: it
// can be stopped and started (the server going away and coming back), and
// it can hold what the client sends for a while before passing it on (a
// server that is slow to answer, whose request still lands later).
type Proxy struct {
	t      testing.TB
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
	delay  time.Duration
}

// StartProxy listens on listenIP (a free port) and relays to target
// (host:port); it is stopped at cleanup.
func StartProxy(t testing.TB, listenIP, target string) *Proxy {
	t.Helper()
	p := &Proxy{t: t, addr: net.JoinHostPort(listenIP, "0"), target: target, conns: map[net.Conn]bool{}}
	p.Start()
	p.addr = p.ln.Addr().String()
	t.Cleanup(p.Stop)
	return p
}

// Addr is the address clients connect to.
func (p *Proxy) Addr() string { return p.addr }

// SetRequestDelay makes the proxy hold each chunk the client sends for d
// before passing it on (0 turns it off). What was sent is delivered even
// if the client gives up and closes its connection meanwhile.
func (p *Proxy) SetRequestDelay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

func (p *Proxy) requestDelay() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.delay
}

// Start listens again after Stop, on the same address.
func (p *Proxy) Start() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy: %v", err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.relay(c)
		}
	}()
}

func (p *Proxy) relay(c net.Conn) {
	u, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[u] = true, true
	p.mu.Unlock()
	go func() {
		defer u.Close()
		buf := make([]byte, 32<<10)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				if d := p.requestDelay(); d > 0 {
					time.Sleep(d)
				}
				if _, werr := u.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	_, _ = io.Copy(c, u)
	c.Close()
}

// Stop refuses new connections and cuts the open ones.
func (p *Proxy) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}
