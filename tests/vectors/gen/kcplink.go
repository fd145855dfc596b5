package main

// An in-memory packet link between one kcp-go client and one kcp-go server: each end is a
// net.PacketConn; every packet either end writes is recorded, then dropped or delivered to the
// other end after a fixed one-way delay (in order).

import (
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/xtaci/kcp-go/v5"
)

type linkAddr string

func (a linkAddr) Network() string { return "memory" }
func (a linkAddr) String() string  { return string(a) }

// kcpSegment is one decoded KCP segment header (little-endian on the wire) and its payload.
type kcpSegment struct {
	conv, ts, sn, una, len uint32
	cmd, frg               byte
	wnd                    uint16
	data                   []byte
}

const (
	kcpPush = 81
	kcpAck  = 82
	kcpWask = 83
	kcpWins = 84
)

func splitSegments(p []byte) []kcpSegment {
	var out []kcpSegment
	for len(p) >= 24 {
		s := kcpSegment{
			conv: binary.LittleEndian.Uint32(p), cmd: p[4], frg: p[5],
			wnd: binary.LittleEndian.Uint16(p[6:]), ts: binary.LittleEndian.Uint32(p[8:]),
			sn: binary.LittleEndian.Uint32(p[12:]), una: binary.LittleEndian.Uint32(p[16:]),
			len: binary.LittleEndian.Uint32(p[20:]),
		}
		if uint64(s.len) > uint64(len(p)-24) {
			break
		}
		s.data = p[24 : 24+s.len]
		out = append(out, s)
		p = p[24+s.len:]
	}
	return out
}

// sentPacket is one packet as a kcp-go session handed it to the link.
type sentPacket struct {
	t       float64 // ms on kcp-go's own clock (see kcpClockOrigin)
	c2s     bool
	dropped bool
	bytes   []byte
}

type memLink struct {
	origin time.Time
	delay  time.Duration
	mu     sync.Mutex
	sent   []sentPacket
	drop   func(c2s bool, segs []kcpSegment) bool // under mu
	// hold (under mu) picks packets that, after their delay, also wait for gate to be closed;
	// the packets behind them in the same direction wait too (the link stays in order).
	hold    func(c2s bool, segs []kcpSegment) bool
	gate    chan struct{}
	client  *linkEnd
	server  *linkEnd
	closing chan struct{}
	once    sync.Once
}

type linkEnd struct {
	link    *memLink
	c2s     bool // this end is the client
	self    linkAddr
	peer    linkAddr
	inbox   chan []byte
	transit chan delivery
	other   *linkEnd
}

type delivery struct {
	due  time.Time
	held bool
	p    []byte
}

// kcpClockOrigin is the instant kcp-go's clock (the ts of its segments, in ms) counts from: a
// throwaway KCP engine stamps its first segment with that clock. Link times are given on the
// same clock, so that a packet's t_ms and its segments' ts can be compared.
func kcpClockOrigin() time.Time {
	var ts uint32
	sent := false
	before := time.Now()
	k := kcp.NewKCP(1, func(b []byte, n int) {
		if n >= 24 {
			ts, sent = binary.LittleEndian.Uint32(b[8:]), true
		}
	})
	// No congestion window (kcp-go's starts at 0 and would hold the segment back).
	k.NoDelay(0, 10, 0, 1)
	k.Send([]byte{0})
	k.Update()
	if !sent {
		panic("kcpClockOrigin: the probe segment was not sent")
	}
	return before.Add(-time.Duration(ts) * time.Millisecond)
}

func newMemLink(delay time.Duration) *memLink {
	l := &memLink{origin: kcpClockOrigin(), delay: delay, closing: make(chan struct{}), gate: make(chan struct{})}
	mk := func(c2s bool, self, peer linkAddr) *linkEnd {
		return &linkEnd{link: l, c2s: c2s, self: self, peer: peer,
			inbox: make(chan []byte, 1<<17), transit: make(chan delivery, 1<<17)}
	}
	l.client = mk(true, "client", "server")
	l.server = mk(false, "server", "client")
	l.client.other, l.server.other = l.server, l.client
	go l.client.carry()
	go l.server.carry()
	return l
}

func (l *memLink) now() float64 {
	return float64(time.Since(l.origin).Microseconds()) / 1000
}

// carry moves this end's packets to the other end once their delay has passed.
func (e *linkEnd) carry() {
	for {
		select {
		case d := <-e.transit:
			if wait := time.Until(d.due); wait > 0 {
				time.Sleep(wait)
			}
			if d.held {
				select {
				case <-e.link.gate:
				case <-e.link.closing:
					return
				}
			}
			select {
			case e.other.inbox <- d.p:
			case <-e.link.closing:
				return
			}
		case <-e.link.closing:
			return
		}
	}
}

func (e *linkEnd) WriteTo(p []byte, _ net.Addr) (int, error) {
	select {
	case <-e.link.closing:
		return 0, errors.New("link closed")
	default:
	}
	b := append([]byte(nil), p...)
	l := e.link
	l.mu.Lock()
	pk := sentPacket{t: l.now(), c2s: e.c2s, bytes: b}
	pk.dropped = l.drop != nil && l.drop(e.c2s, splitSegments(b))
	held := l.hold != nil && l.hold(e.c2s, splitSegments(b))
	l.sent = append(l.sent, pk)
	l.mu.Unlock()
	if !pk.dropped {
		e.transit <- delivery{time.Now().Add(l.delay), held, b}
	}
	return len(p), nil
}

func (e *linkEnd) ReadFrom(p []byte) (int, net.Addr, error) {
	select {
	case b := <-e.inbox:
		return copy(p, b), e.peer, nil
	case <-e.link.closing:
		return 0, nil, errors.New("link closed")
	}
}

func (e *linkEnd) Close() error                       { e.link.close(); return nil }
func (e *linkEnd) LocalAddr() net.Addr                { return e.self }
func (e *linkEnd) SetDeadline(t time.Time) error      { return nil }
func (e *linkEnd) SetReadDeadline(t time.Time) error  { return nil }
func (e *linkEnd) SetWriteDeadline(t time.Time) error { return nil }

// openGate lets the held packets through.
func (l *memLink) openGate() { close(l.gate) }

func (l *memLink) close() { l.once.Do(func() { close(l.closing) }) }

// snapshot returns the packets sent so far.
func (l *memLink) snapshot() []sentPacket {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]sentPacket(nil), l.sent...)
}

// countSegments counts the segments of one command sent so far.
func (l *memLink) countSegments(cmd byte) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, p := range l.sent {
		for _, s := range splitSegments(p.bytes) {
			if s.cmd == cmd {
				n++
			}
		}
	}
	return n
}

// snowflakeKCP applies what snowflake's client and server set on their KCP sessions.
func snowflakeKCP(s *kcp.UDPSession) {
	s.SetStreamMode(true)
	s.SetWindowSize(65535, 65535)
	s.SetNoDelay(0, 0, 0, 1)
}
