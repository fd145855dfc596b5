package main

// One turbotunnel session, assembled as snowflake 2.5.1's client/lib does it: a random
// ClientID; a turbotunnel.RedialPacketConn whose dial function opens a WebSocket (token and
// ClientID first, then encapsulated packets), and dials again with the same ClientID whenever
// the current WebSocket fails; KCP on top in stream mode with 65535-packet windows and no
// congestion window; smux v2 on KCP with a 10-minute keepalive timeout and 1 MiB stream buffer.

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"git.torproject.org/pluggable-transports/snowflake.git/v2/common/turbotunnel"
	"github.com/gorilla/websocket"
	"github.com/xtaci/kcp-go/v5"
	"github.com/xtaci/smux"
)

// The Snowflake client's values (client/lib/snowflake.go).
const (
	clientKCPWindow     = 65535 // packets, send and receive
	clientSmuxKeepAlive = 10 * time.Minute
	clientSmuxBuffer    = 1 << 20 // smux MaxStreamBuffer
)

// dialRetryPause separates the attempts of one (re)dial.
const dialRetryPause = 200 * time.Millisecond

var errTunnelDone = errors.New("tunnel closed")

// tunnelSetup is what every session of a run shares.
type tunnelSetup struct {
	url      string
	dialer   *websocket.Dialer
	how      framing
	mtu      int // 0 keeps kcp-go's default (1400), as the Snowflake client does
	attempts int // WebSocket dial attempts per (re)dial
	stats    *wireStats
	errs     *errorTally
}

type tunnel struct {
	setup  *tunnelSetup
	id     turbotunnel.ClientID
	ctx    context.Context
	cancel context.CancelFunc
	redial *turbotunnel.RedialPacketConn
	kcp    *kcp.UDPSession
	mux    *smux.Session

	mu        sync.Mutex
	link      *wsLink // the WebSocket in use, nil between dials
	done      bool
	firstDial time.Duration // handshake time of the first WebSocket, 0 until then

	dials   int64 // WebSockets opened (atomic)
	dropped int64 // WebSockets closed by --reconnect-every (atomic)
}

// dial is the RedialPacketConn's dial function: a new WebSocket with the same ClientID.
func (t *tunnel) dial(context.Context) (net.PacketConn, error) {
	lastErr := errTunnelDone
	for attempt := 0; attempt < t.setup.attempts; attempt++ {
		if attempt > 0 && !sleepCtx(t.ctx, dialRetryPause) {
			break
		}
		if t.ctx.Err() != nil {
			break
		}
		began := time.Now()
		ws, _, err := t.setup.dialer.DialContext(t.ctx, t.setup.url, nil)
		if err != nil {
			t.setup.errs.note("ws_dial", err)
			lastErr = err
			continue
		}
		took := time.Since(began)
		link, err := newWSLink(ws, t.setup.how, t.setup.stats, turbotunnel.Token[:], t.id[:])
		if err != nil {
			ws.Close()
			t.setup.errs.note("ws_preamble", err)
			lastErr = err
			continue
		}
		t.mu.Lock()
		if t.done {
			t.mu.Unlock()
			link.Close()
			return nil, errTunnelDone
		}
		t.link = link
		if t.firstDial == 0 {
			t.firstDial = took
			if t.firstDial == 0 {
				t.firstDial = time.Nanosecond
			}
		}
		t.mu.Unlock()
		atomic.AddInt64(&t.dials, 1)
		return link, nil
	}
	return nil, lastErr
}

// openTunnel starts a session; the first WebSocket is dialled in the background by the
// RedialPacketConn, so errors show up on the first stream.
func openTunnel(parent context.Context, setup *tunnelSetup) (*tunnel, error) {
	t := &tunnel{setup: setup, id: turbotunnel.NewClientID()}
	t.ctx, t.cancel = context.WithCancel(parent)
	t.redial = turbotunnel.NewRedialPacketConn(fixedAddr("client"), fixedAddr("server"), t.dial)
	var err error
	if t.kcp, err = kcp.NewConn2(fixedAddr("server"), nil, 0, 0, t.redial); err != nil {
		t.Close()
		return nil, err
	}
	t.kcp.SetStreamMode(true)
	t.kcp.SetWindowSize(clientKCPWindow, clientKCPWindow)
	t.kcp.SetNoDelay(0, 0, 0, 1) // no congestion window; kcp-go raises interval 0 to 10 ms
	if setup.mtu > 0 && !t.kcp.SetMtu(setup.mtu) {
		t.Close()
		return nil, errors.New("kcp-go refused the --mtu value")
	}
	conf := smux.DefaultConfig()
	conf.Version = 2
	conf.KeepAliveTimeout = clientSmuxKeepAlive
	conf.MaxStreamBuffer = clientSmuxBuffer
	if t.mux, err = smux.Client(t.kcp, conf); err != nil {
		t.Close()
		return nil, err
	}
	go func() { // the run's end (timeout) closes every tunnel
		<-t.ctx.Done()
		t.Close()
	}()
	return t, nil
}

// dropEvery closes the current WebSocket every period until the tunnel ends; the
// RedialPacketConn then dials a new one for the same KCP session (--reconnect-every).
func (t *tunnel) dropEvery(period time.Duration) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-tick.C:
		}
		t.mu.Lock()
		link := t.link
		t.link = nil
		t.mu.Unlock()
		if link != nil {
			link.Close()
			atomic.AddInt64(&t.dropped, 1)
		}
	}
}

// firstDialTime is the first WebSocket's handshake time, false if none succeeded.
func (t *tunnel) firstDialTime() (time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.firstDial, t.firstDial > 0
}

func (t *tunnel) Close() {
	t.mu.Lock()
	if t.done {
		t.mu.Unlock()
		return
	}
	t.done = true
	link := t.link
	t.mu.Unlock()
	t.cancel()
	if t.mux != nil {
		t.mux.Close()
	}
	if t.kcp != nil {
		t.kcp.Close()
	}
	t.redial.Close()
	if link != nil {
		link.Close()
	}
}

// sleepCtx waits d; false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}
