package main

// kcp.json: packets between a real kcp-go client session and a real kcp-go server session, both
// configured as snowflake configures them, over the recorded in-memory link of kcplink.go. The
// packets depend on scheduling and clocks; each scenario names, in "replay", the packets the
// unit tests replay against, and the generator repeats a capture that lacks one of them.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/xtaci/kcp-go/v5"
	"github.com/xtaci/smux"
)

var kcpCmdNames = map[byte]string{kcpPush: "PUSH", kcpAck: "ACK", kcpWask: "WASK", kcpWins: "WINS"}

type kcpSegmentJSON struct {
	Conv             string `json:"conv"`
	Cmd              string `json:"cmd"`
	Frg              byte   `json:"frg"`
	Wnd              uint16 `json:"wnd"`
	Ts               uint32 `json:"ts"`
	Sn               uint32 `json:"sn"`
	Una              uint32 `json:"una"`
	Len              uint32 `json:"len"`
	RetransmissionOf *int   `json:"retransmission_of,omitempty"`
}

type kcpPacketJSON struct {
	I        int              `json:"i"`
	T        float64          `json:"t_ms"`
	Dir      string           `json:"dir"`
	Dropped  bool             `json:"dropped,omitempty"`
	Len      int              `json:"len"`
	Hex      hexBytes         `json:"hex"`
	Segments []kcpSegmentJSON `json:"segments"`
}

type kcpScenario struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Setup       []string        `json:"setup"`
	Attempts    int             `json:"capture_attempts"`
	Replay      interface{}     `json:"replay"`
	Observed    []string        `json:"observed"`
	Omitted     string          `json:"omitted,omitempty"`
	Packets     []kcpPacketJSON `json:"packets"`
}

type kcpFile struct {
	Info        info          `json:"info"`
	Description string        `json:"description"`
	Scenarios   []kcpScenario `json:"scenarios"`
}

// annotate decodes every packet and marks PUSH segments seen before in the same direction.
func annotate(sent []sentPacket) []kcpPacketJSON {
	first := map[[2]uint32]int{}
	out := make([]kcpPacketJSON, len(sent))
	for i, p := range sent {
		j := kcpPacketJSON{I: i, T: p.t, Dir: "s2c", Dropped: p.dropped, Len: len(p.bytes), Hex: p.bytes,
			Segments: []kcpSegmentJSON{}}
		dir := uint32(0)
		if p.c2s {
			j.Dir, dir = "c2s", 1
		}
		for _, s := range splitSegments(p.bytes) {
			name, ok := kcpCmdNames[s.cmd]
			if !ok {
				name = fmt.Sprintf("0x%02x", s.cmd)
			}
			sj := kcpSegmentJSON{Conv: fmt.Sprintf("%08x", s.conv), Cmd: name, Frg: s.frg, Wnd: s.wnd,
				Ts: s.ts, Sn: s.sn, Una: s.una, Len: s.len}
			if s.cmd == kcpPush {
				key := [2]uint32{dir, s.sn}
				if k, seen := first[key]; seen {
					k := k
					sj.RetransmissionOf = &k
				} else {
					first[key] = i
				}
			}
			j.Segments = append(j.Segments, sj)
		}
		out[i] = j
	}
	return out
}

// retry runs capture until it returns a capture the unit tests can replay, at most max times.
func retry(max int, capture func() (kcpScenario, error)) (kcpScenario, error) {
	var err error
	for attempt := 1; attempt <= max; attempt++ {
		var sc kcpScenario
		sc, err = capture()
		if err == nil {
			sc.Attempts = attempt
			return sc, nil
		}
		fmt.Fprintf(os.Stderr, "sfvectors: kcp: attempt %d: %v\n", attempt, err)
	}
	return kcpScenario{}, err
}

func writeKCP(dir string) error {
	f := kcpFile{
		Info: newInfo("kcp", "smux"),
		Description: "Packets between a kcp-go client session (NewConn3 with a fixed conv; snowflake's NewConn2 " +
			"picks a random one) and a kcp-go server session accepted from ServeConn(nil, 0, 0, conn), both with " +
			"SetStreamMode(true), SetWindowSize(65535, 65535), SetNoDelay(0, 0, 0, 1), MTU 1400, no crypto, no FEC, " +
			"over an in-memory link with a fixed one-way delay. dir c2s = client to server. t_ms: when kcp-go " +
			"handed the packet to the link, in ms on kcp-go's own clock (the clock of the ts fields). " +
			"dropped: written by kcp-go, not delivered. Segment header fields are little-endian on the wire.",
	}
	type result struct {
		sc  kcpScenario
		err error
	}
	second := make(chan result, 1)
	if os.Getenv("SFVECTORS_S1_ONLY") != "" {
		second <- result{}
	} else {
		go func() {
			sc, err := retry(5, kcpZeroWindow)
			second <- result{sc, err}
		}()
	}
	first, err := retry(envInt("SFVECTORS_S1_TRIES", 25), kcpSmuxWithDrops)
	r := <-second
	if err != nil {
		return fmt.Errorf("scenario 1: %v", err)
	}
	if r.err != nil {
		return fmt.Errorf("scenario 2: %v", r.err)
	}
	f.Scenarios = []kcpScenario{first, r.sc}
	return writeFile(dir, "kcp.json", f)
}

// Scenario 1 ------------------------------------------------------------------------------------

const (
	s1Conv     = 0x11223344
	s1Delay    = 20 * time.Millisecond
	s1Messages = 40
	s1Size     = 100
)

// The smux FIN of stream 3, as the client sends it.
var finOfStream3 = []byte{2, 1, 0, 0, 3, 0, 0, 0}

type s1Replay struct {
	Conv                      uint32 `json:"conv"`
	LinkDelayMs               int    `json:"link_delay_ms"`
	ClientPushSnEnd           uint32 `json:"client_push_sn_end"`
	FinRetransmissionPacket   int    `json:"fin_retransmission_packet"`
	FinAckPacket              int    `json:"fin_ack_packet"`
	ServerFirstPushPackets    []int  `json:"server_first_push_packets"`
	EarlyAckPacket            int    `json:"early_ack_packet"`
	EarlyRetransmissionPacket []int  `json:"early_retransmission_packets"`
	Note                      string `json:"note"`
}

func kcpSmuxWithDrops() (kcpScenario, error) {
	sc := kcpScenario{
		Name: "smux on KCP with drops and the initial 32-segment window",
		Description: "The client opens an smux stream (snowflake client settings) and writes 40 messages of 100 " +
			"bytes; the server (snowflake server settings) echoes with io.Copy; the client reads the 4000 bytes, " +
			"waits 100 ms and closes the stream; the server closes its side.",
		Setup: []string{
			fmt.Sprintf("conv 0x%08x", s1Conv),
			"link delay 20 ms each way",
			"dropped: the first c2s packet carrying PUSH sn 5",
			"dropped: the first s2c packet carrying PUSH sn 2",
			"dropped: the first c2s packet carrying the smux FIN of stream 3",
		},
	}
	link := newMemLink(s1Delay)
	defer link.close()
	dropped := map[string]bool{}
	link.drop = func(c2s bool, segs []kcpSegment) bool {
		for _, s := range segs {
			if s.cmd != kcpPush {
				continue
			}
			key := ""
			switch {
			case c2s && s.sn == 5:
				key = "client sn 5"
			case !c2s && s.sn == 2:
				key = "server sn 2"
			case c2s && bytes.Contains(s.data, finOfStream3):
				key = "client FIN"
			}
			if key != "" && !dropped[key] {
				dropped[key] = true
				return true
			}
		}
		return false
	}

	ln, err := kcp.ServeConn(nil, 0, 0, link.server)
	if err != nil {
		return sc, err
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		conn, err := ln.AcceptKCP()
		if err != nil {
			served <- err
			return
		}
		defer conn.Close()
		snowflakeKCP(conn)
		sess, err := smux.Server(conn, snowflakeSmuxConfig(true))
		if err != nil {
			served <- err
			return
		}
		defer sess.Close()
		st, err := sess.AcceptStream()
		if err != nil {
			served <- err
			return
		}
		io.Copy(st, st)
		served <- st.Close()
		// Keep the session up until the capture is taken.
		time.Sleep(time.Second)
	}()

	cli, err := kcp.NewConn3(s1Conv, linkAddr("server"), nil, 0, 0, link.client)
	if err != nil {
		return sc, err
	}
	defer cli.Close()
	snowflakeKCP(cli)
	sess, err := smux.Client(cli, snowflakeSmuxConfig(false))
	if err != nil {
		return sc, err
	}
	defer sess.Close()
	st, err := sess.OpenStream()
	if err != nil {
		return sc, err
	}
	var want []byte
	for m := 0; m < s1Messages; m++ {
		msg := countingBytes(s1Size, byte(m))
		want = append(want, msg...)
		if _, err := st.Write(msg); err != nil {
			return sc, err
		}
	}
	got := make([]byte, len(want))
	st.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(st, got); err != nil {
		return sc, fmt.Errorf("reading the echo: %v", err)
	}
	if !bytes.Equal(got, want) {
		return sc, errors.New("the echo differs")
	}
	// The pending ACKs leave with the next 10 ms flush, so that the FIN travels (and is dropped)
	// alone.
	time.Sleep(100 * time.Millisecond)
	st.Close()
	select {
	case err := <-served:
		if err != nil {
			return sc, err
		}
	case <-time.After(10 * time.Second):
		return sc, errors.New("the server did not close its stream")
	}
	time.Sleep(400 * time.Millisecond)
	sent := link.snapshot()
	if len(dropped) != 3 {
		return sc, fmt.Errorf("only %d of 3 drops happened", len(dropped))
	}
	sc.Packets = annotate(sent)
	replay, err := findS1Replay(sent, sc.Packets)
	if err != nil {
		if os.Getenv("SFVECTORS_DEBUG") != "" {
			for _, p := range sc.Packets[28:60] {
				fmt.Fprintf(os.Stderr, "%d %.1f %s %v:", p.I, p.T, p.Dir, p.Dropped)
				for _, s := range p.Segments {
					fmt.Fprintf(os.Stderr, " %s/sn%d/una%d/ts%d", s.Cmd, s.Sn, s.Una, s.Ts)
				}
				fmt.Fprintln(os.Stderr)
			}
		}
		return sc, err
	}
	sc.Replay = replay
	sc.Observed = observeS1(sc.Packets, replay)
	return sc, nil
}

// findS1Replay locates the packets the unit tests replay against, and checks that they have the
// shape the tests rely on.
func findS1Replay(sent []sentPacket, pk []kcpPacketJSON) (s1Replay, error) {
	r := s1Replay{Conv: s1Conv, LinkDelayMs: int(s1Delay / time.Millisecond), FinRetransmissionPacket: -1, FinAckPacket: -1, EarlyAckPacket: -1,
		Note: "client_push_sn_end: the client's PUSH sn run 0..end-1. fin_retransmission_packet: the client's " +
			"resend of its lost FIN; fin_ack_packet: the server's first packet after it, which starts with the ACK " +
			"of that sn. early_retransmission_packets: the server's flush that resends its lost sn 2 (one packet [ACK, " +
			"PUSH], or an ACK-only packet then the PUSH; ts of the PUSH: the server's flush time), made with nothing " +
			"new to send right after early_ack_packet (the first c2s packet ACKing a server segment after sn 2, " +
			"una 2) arrived; its ACK is of the last PUSH of the c2s packets arriving in that millisecond. " +
			"server_first_push_packets: the s2c packets before it with the first transmissions of sn 0, 1, 2, ...; " +
			"link_delay_ms: one-way delay (arrival = floor(t_ms + delay))."}
	seen := map[uint32]bool{}
	for i, p := range sent {
		for _, s := range splitSegments(p.bytes) {
			if p.c2s && s.cmd == kcpPush {
				seen[s.sn] = true
				if bytes.Contains(s.data, finOfStream3) && !p.dropped {
					r.FinRetransmissionPacket = i
				}
			}
		}
	}
	for uint32(len(seen)) > r.ClientPushSnEnd && seen[r.ClientPushSnEnd] {
		r.ClientPushSnEnd++
	}
	if int(r.ClientPushSnEnd) != len(seen) {
		return r, errors.New("the client's PUSH sn are not a run from 0")
	}
	if r.FinRetransmissionPacket < 0 {
		return r, errors.New("no resend of the client's FIN")
	}
	finSn := r.ClientPushSnEnd - 1
	for i := r.FinRetransmissionPacket + 1; i < len(sent) && r.FinAckPacket < 0; i++ {
		if sent[i].c2s {
			continue
		}
		s := splitSegments(sent[i].bytes)
		if len(s) == 0 || s[0].cmd != kcpAck || s[0].sn != finSn || s[0].una != finSn+1 || s[0].wnd != 65535 {
			return r, fmt.Errorf("packet %d does not start with ACK sn %d una %d wnd 65535", i, finSn, finSn+1)
		}
		r.FinAckPacket = i
	}
	if r.FinAckPacket < 0 {
		return r, errors.New("no ACK of the client's FIN resend")
	}

	// The server's early retransmission of its sn 2: the first s2c packet resending it.
	ei := -1
	for i, p := range pk {
		if p.Dir == "s2c" && len(p.Segments) > 0 {
			last := p.Segments[len(p.Segments)-1]
			if last.Cmd == "PUSH" && last.Sn == 2 && last.RetransmissionOf != nil {
				ei = i
				break
			}
		}
	}
	if ei < 0 {
		return r, errors.New("no s2c packet ending with the resent PUSH sn 2")
	}
	e := pk[ei]
	// What triggers it: the first delivered c2s packet that ACKs a server segment after sn 2.
	for i := 0; i < ei && r.EarlyAckPacket < 0; i++ {
		if pk[i].Dir != "c2s" || pk[i].Dropped {
			continue
		}
		for _, s := range pk[i].Segments {
			if s.Cmd == "ACK" && s.Sn > 2 {
				r.EarlyAckPacket = i
				break
			}
		}
	}
	if r.EarlyAckPacket < 0 {
		return r, errors.New("no c2s packet ACKing a server segment after sn 2 before the early retransmission")
	}
	a := pk[r.EarlyAckPacket]
	delay := float64(s1Delay / time.Millisecond)
	arrival := uint32(a.T + delay)
	for _, s := range a.Segments {
		if s.Una != 2 {
			return r, fmt.Errorf("packet %d carries una %d, not 2 (the client holds sn 0 and 1, not 2)",
				r.EarlyAckPacket, s.Una)
		}
	}
	// The unit test delivers the c2s packets arriving in the same millisecond as that one as one
	// read event, then flushes once: ACKs (filtered: below una only the last), then the resend.
	// kcp-go flushes inside Input whenever una moves, so its answer is that flush's segments,
	// in one packet or as an ACK-only packet followed by the resend alone.
	var groupPush []uint32
	groupSent := a.T
	for i := 0; i <= r.EarlyAckPacket; i++ {
		if pk[i].Dir == "c2s" && !pk[i].Dropped && uint32(pk[i].T+delay) == arrival {
			if pk[i].T < groupSent {
				groupSent = pk[i].T
			}
			for _, s := range pk[i].Segments {
				if s.Cmd == "PUSH" {
					groupPush = append(groupPush, s.Sn)
				}
			}
		}
	}
	r.EarlyRetransmissionPacket = []int{ei}
	if e.Segments[0].Cmd != "ACK" {
		prev := -1
		for i := ei - 1; i >= 0 && prev < 0; i-- {
			if pk[i].Dir == "s2c" {
				prev = i
			}
		}
		// Sent once that read had started to arrive.
		if prev < 0 || pk[prev].T < groupSent+delay {
			return r, errors.New("the resend of sn 2 has no ACK in the same flush")
		}
		r.EarlyRetransmissionPacket = []int{prev, ei}
	}
	var flush []kcpSegmentJSON
	for _, i := range r.EarlyRetransmissionPacket {
		flush = append(flush, pk[i].Segments...)
	}
	if len(flush) != 2 || flush[0].Cmd != "ACK" {
		return r, fmt.Errorf("the early retransmission's flush is not [ACK, PUSH sn 2] (%d segments)", len(flush))
	}
	una := flush[1].Una
	if len(groupPush) == 0 || flush[0].Sn != groupPush[len(groupPush)-1] || flush[0].Una != una {
		return r, errors.New("the early retransmission's ACK is not for the last PUSH of the read before it")
	}
	for _, sn := range groupPush[:len(groupPush)-1] {
		if sn >= una {
			return r, fmt.Errorf("sn %d of that read is beyond una %d: its ACK would be sent too", sn, una)
		}
	}
	// The unit test sends the server's PUSHes just before that read event: no packet arriving
	// earlier may carry an ACK (it would give kcp-go an RTT sample, or ACK a segment, that the
	// replay could not).
	for i := 0; i < r.EarlyAckPacket; i++ {
		if pk[i].Dir != "c2s" || pk[i].Dropped || uint32(pk[i].T+delay) == arrival {
			continue
		}
		for _, s := range pk[i].Segments {
			if s.Cmd != "PUSH" {
				return r, fmt.Errorf("packet %d (%s) arrives before the early ACK's read", i, s.Cmd)
			}
		}
	}
	// The resend is stamped with the server's flush time: after the arrival, before any RTO.
	if flush[1].Ts < arrival {
		return r, fmt.Errorf("the early retransmission (ts %d) is older than the arrival at %d", flush[1].Ts, arrival)
	}
	// Nothing else left the server between that arrival and the resend (a flush with new data
	// would have delayed the early retransmission).
	for i := r.EarlyAckPacket + 1; i < r.EarlyRetransmissionPacket[0]; i++ {
		if pk[i].Dir == "s2c" && pk[i].T >= a.T+delay {
			return r, fmt.Errorf("packet %d left the server between the ACK and the early retransmission", i)
		}
	}
	// The server's first PUSHes before it: sn 0, 1, 2, ... once each, none resent, within 100 ms
	// (the unit test sends them again at their ts and checks the first RTO, 200 ms after the first).
	var nextSn uint32
	var firstTs uint32
	for i := 0; i < r.EarlyRetransmissionPacket[0]; i++ {
		if pk[i].Dir != "s2c" {
			continue
		}
		has := false
		for _, s := range pk[i].Segments {
			if s.Cmd != "PUSH" {
				continue
			}
			if s.RetransmissionOf != nil || s.Sn != nextSn {
				return r, fmt.Errorf("packet %d: server PUSH sn %d is not the next first transmission", i, s.Sn)
			}
			if nextSn == 0 {
				firstTs = s.Ts
			}
			if s.Ts-firstTs > 100 || s.Ts > arrival {
				return r, fmt.Errorf("packet %d: server PUSH sn %d at ts %d, too late", i, s.Sn, s.Ts)
			}
			nextSn++
			has = true
		}
		if has {
			r.ServerFirstPushPackets = append(r.ServerFirstPushPackets, i)
		}
	}
	if nextSn < 4 {
		return r, fmt.Errorf("only %d server PUSHes before the early retransmission", nextSn)
	}
	if flush[1].Ts-firstTs >= 200 {
		return r, errors.New("the resend of sn 2 comes after its RTO")
	}
	return r, nil
}

func observeS1(pk []kcpPacketJSON, r s1Replay) []string {
	var obs []string
	firstS2C := -1
	for i, p := range pk {
		if p.Dir == "s2c" {
			firstS2C = i
			break
		}
	}
	if firstS2C >= 0 {
		arrives := pk[firstS2C].T + float64(s1Delay/time.Millisecond)
		maxSn := -1
		for _, p := range pk {
			if p.Dir == "c2s" && p.T < arrives {
				for _, s := range p.Segments {
					if s.Cmd == "PUSH" && int(s.Sn) > maxSn {
						maxSn = int(s.Sn)
					}
				}
			}
		}
		obs = append(obs, fmt.Sprintf("until the server's first packet (%d) arrived at t=%.1f ms the client had sent "+
			"PUSH sn 0..%d: kcp-go assumes a remote window of 32 until it hears one", firstS2C, arrives, maxSn))
		obs = append(obs, fmt.Sprintf("the server's first packet advertises wnd %d", pk[firstS2C].Segments[0].Wnd))
	}
	for _, p := range pk {
		if p.Dropped {
			obs = append(obs, fmt.Sprintf("packet %d (%s, t=%.1f ms) dropped", p.I, p.Dir, p.T))
		}
		for _, s := range p.Segments {
			if s.RetransmissionOf != nil {
				obs = append(obs, fmt.Sprintf("packet %d (%s, t=%.1f ms) resends sn %d first sent in packet %d",
					p.I, p.Dir, p.T, s.Sn, *s.RetransmissionOf))
			}
		}
	}
	return obs
}

// Scenario 2 ------------------------------------------------------------------------------------

const (
	s2Conv  = 0x55667788
	s2Delay = time.Millisecond
	s2Total = 66000
)

type s2Replay struct {
	Conv                uint32 `json:"conv"`
	LinkDelayMs         int    `json:"link_delay_ms"`
	ClientPushSnEnd     uint32 `json:"client_push_sn_end"`
	ZeroWindowAckPacket int    `json:"zero_window_ack_packet"`
	WaskPackets         []int  `json:"wask_packets"`
	WinsPackets         []int  `json:"wins_packets"`
	WindowUpdatePacket  int    `json:"window_update_packet"`
	LastAckPacket       int    `json:"last_ack_packet"`
	CapturedPackets     int    `json:"captured_packets"`
	Note                string `json:"note"`
}

func kcpZeroWindow() (kcpScenario, error) {
	sc := kcpScenario{
		Name: "zero receive window: WASK and WINS",
		Description: "Raw KCP, no smux. The client writes 66000 one-byte messages without pause; the server " +
			"application reads nothing, so the server's receive queue fills to 65535 segments and its ACKs " +
			"advertise wnd 0. The client probes with WASK (after 7 s, then 10.5 s later), each answered by WINS " +
			"wnd 0; after the second answer the server application reads everything, its next flush sends an " +
			"unasked WINS with the freed window, and the client sends the rest.",
		Setup: []string{fmt.Sprintf("conv 0x%08x", s2Conv), "link delay 1 ms each way",
			"the client writes from one goroutine; each Write flushes, so each byte is its own PUSH while the window is open",
			"after its first byte the client waits until the server session is accepted and configured",
			"the window update (WINS wnd > 0) is delivered only once the server application has read the 65535 " +
				"bytes it held, so that the server ACKs the rest with an empty receive queue (wnd 65535)"},
	}
	link := newMemLink(s2Delay)
	defer link.close()
	closed := false // the server ACKed sn 65534 with wnd 0 (under link.mu)
	link.hold = func(c2s bool, segs []kcpSegment) bool {
		for _, s := range segs {
			if !c2s && s.cmd == kcpAck && s.sn == s2Window-1 && s.wnd == 0 {
				closed = true
			}
			if closed && !c2s && s.cmd == kcpWins && s.wnd > 0 {
				return true
			}
		}
		return false
	}
	ln, err := kcp.ServeConn(nil, 0, 0, link.server)
	if err != nil {
		return sc, err
	}
	defer ln.Close()
	accepted := make(chan *kcp.UDPSession, 1)
	configured := make(chan struct{})
	go func() {
		if conn, err := ln.AcceptKCP(); err == nil {
			snowflakeKCP(conn)
			close(configured)
			accepted <- conn
		}
	}()
	cli, err := kcp.NewConn3(s2Conv, linkAddr("server"), nil, 0, 0, link.client)
	if err != nil {
		return sc, err
	}
	defer cli.Close()
	snowflakeKCP(cli)
	written := make(chan error, 1)
	go func() {
		for i := 0; i < s2Total; i++ {
			if i == 1 {
				// The server session is created (with kcp-go's default window of 32) by the
				// first packet; the flood waits until the acceptor applied 65535, or the
				// window would close at 32 segments.
				select {
				case <-configured:
				case <-time.After(5 * time.Second):
					written <- errors.New("the server session was not configured")
					return
				}
			}
			if _, err := cli.Write([]byte{byte(i)}); err != nil {
				written <- err
				return
			}
		}
		written <- nil
	}()
	var srv *kcp.UDPSession
	select {
	case srv = <-accepted:
	case <-time.After(5 * time.Second):
		return sc, errors.New("no session accepted")
	}
	defer srv.Close()
	// The probes come 7 s and 17.5 s after the window closed; the second is answered 10 ms later.
	if !waitFor(60*time.Second, func() bool { return link.countSegments(kcpWins) >= 2 }) {
		return sc, errors.New("fewer than two WINS answers")
	}
	link.mu.Lock()
	full := closed
	link.mu.Unlock()
	if !full {
		return sc, errors.New("the window closed before sn 65534")
	}
	buf := make([]byte, 1<<16)
	srv.SetReadDeadline(time.Now().Add(10 * time.Second))
	for n := 0; n < s2Total; {
		k, err := srv.Read(buf)
		if err != nil {
			return sc, fmt.Errorf("reading after %d bytes: %v", n, err)
		}
		for j := 0; j < k; j++ {
			if buf[j] != byte(n+j) {
				return sc, fmt.Errorf("byte %d differs", n+j)
			}
		}
		n += k
		if n >= s2Window && n-k < s2Window {
			link.openGate()
		}
	}
	if err := <-written; err != nil {
		return sc, err
	}
	time.Sleep(300 * time.Millisecond)
	all := annotate(link.snapshot())
	r, err := findS2Replay(all)
	if err != nil {
		return sc, err
	}
	sc.Replay = r
	sc.Packets, sc.Omitted = s2Listed(all, r)
	sc.Observed = observeS2(all, r)
	return sc, nil
}

// s2Window is the server's receive window: the client's one-byte PUSHes sn 0..s2Window-1 fill it.
const s2Window = 65535

func findS2Replay(all []kcpPacketJSON) (s2Replay, error) {
	r := s2Replay{Conv: s2Conv, LinkDelayMs: int(s2Delay / time.Millisecond), ZeroWindowAckPacket: -1,
		WindowUpdatePacket: -1, LastAckPacket: -1, CapturedPackets: len(all),
		Note: "client_push_sn_end: the client's PUSH sn run 0..end-1 (sn 0..65534 one byte each, payload sn mod " +
			"256; the rest as the client grouped its queued bytes). zero_window_ack_packet: the server's ACK of the " +
			"last segment that fit (sn 65534, wnd 0); wask_packets / wins_packets: the client's two probes and the " +
			"server's answers; window_update_packet: the unasked WINS after the application read (its wnd = " +
			"segments freed); last_ack_packet: the server's ACK of the last sn (wnd 65535: everything read). " +
			"Every c2s packet after the second WINS is listed. Indices are into the full capture."}
	// The client's PUSHes: a run from sn 0, each sent once, the first 65535 one byte each.
	var first []int // packet of each sn's first transmission
	for i, p := range all {
		if p.Dir != "c2s" {
			continue
		}
		for _, seg := range splitSegments(p.Hex) {
			if seg.cmd != kcpPush {
				continue
			}
			if seg.sn < uint32(len(first)) && seg.sn < s2Window-5 {
				// An RTO resend under load: the unit test replays first transmissions only, and
				// what the server does with a duplicate is not compared there.
				continue
			}
			if seg.sn != uint32(len(first)) {
				return r, fmt.Errorf("packet %d: client PUSH sn %d out of the run (resent late or skipped)", i, seg.sn)
			}
			if seg.sn < s2Window && (len(seg.data) != 1 || seg.data[0] != byte(seg.sn) || seg.una != 0 ||
				seg.wnd != 65535) {
				return r, fmt.Errorf("packet %d: client PUSH sn %d is not one byte sn mod 256", i, seg.sn)
			}
			first = append(first, i)
		}
	}
	r.ClientPushSnEnd = uint32(len(first))
	if r.ClientPushSnEnd <= s2Window {
		return r, fmt.Errorf("only %d client PUSHes", len(first))
	}
	for i, p := range all {
		for _, s := range p.Segments {
			switch {
			case p.Dir == "s2c" && s.Cmd == "ACK" && s.Sn == s2Window-1 && r.ZeroWindowAckPacket < 0:
				r.ZeroWindowAckPacket = i
			case p.Dir == "c2s" && s.Cmd == "WASK":
				r.WaskPackets = append(r.WaskPackets, i)
			case p.Dir == "s2c" && s.Cmd == "WINS" && s.Wnd == 0:
				r.WinsPackets = append(r.WinsPackets, i)
			case p.Dir == "s2c" && s.Cmd == "WINS" && r.WindowUpdatePacket < 0:
				r.WindowUpdatePacket = i
			case p.Dir == "s2c" && s.Cmd == "ACK" && s.Sn == r.ClientPushSnEnd-1:
				r.LastAckPacket = i
			}
		}
	}
	switch {
	case r.ZeroWindowAckPacket < 0 || all[r.ZeroWindowAckPacket].Segments[0].Wnd != 0 ||
		len(all[r.ZeroWindowAckPacket].Segments) != 1:
		return r, errors.New("no lone ACK of sn 65534 with wnd 0")
	case len(r.WaskPackets) != 2 || len(r.WinsPackets) != 2:
		return r, fmt.Errorf("%d WASK and %d WINS wnd 0, want 2 each", len(r.WaskPackets), len(r.WinsPackets))
	case r.WindowUpdatePacket < 0 || r.LastAckPacket < 0:
		return r, errors.New("no window update or no ACK of the last segment")
	case len(all) >= 70000:
		return r, fmt.Errorf("%d packets: more than the unit test indexes", len(all))
	}
	// The order the unit test replays: window closed, WASK, WINS, WASK, WINS, update, the rest.
	order := []int{first[s2Window-1], r.ZeroWindowAckPacket, r.WaskPackets[0], r.WinsPackets[0],
		r.WaskPackets[1], r.WinsPackets[1], r.WindowUpdatePacket, first[s2Window], r.LastAckPacket}
	for k := 1; k < len(order); k++ {
		if order[k] <= order[k-1] {
			return r, errors.New("the zero-window exchange is out of order")
		}
	}
	for _, i := range append(append([]int{r.WindowUpdatePacket, r.LastAckPacket}, r.WaskPackets...), r.WinsPackets...) {
		if len(all[i].Segments) != 1 {
			return r, fmt.Errorf("packet %d has more than one segment", i)
		}
	}
	if all[r.WindowUpdatePacket].Segments[0].Wnd == 0 {
		return r, errors.New("the window update is wnd 0")
	}
	// Nothing else crosses while the window is shut, and the server's last ACK comes after the
	// application read everything.
	for i := r.ZeroWindowAckPacket + 1; i < first[s2Window]; i++ {
		if i != r.WaskPackets[0] && i != r.WaskPackets[1] && i != r.WinsPackets[0] && i != r.WinsPackets[1] &&
			i != r.WindowUpdatePacket {
			return r, fmt.Errorf("packet %d crosses while the window is shut", i)
		}
	}
	last := all[r.LastAckPacket].Segments[0]
	if last.Wnd != 65535 || last.Una != r.ClientPushSnEnd {
		return r, fmt.Errorf("the last ACK has wnd %d una %d", last.Wnd, last.Una)
	}
	return r, nil
}

// s2Listed keeps the packets worth reading out of the ~66000: the first ones, every s2c packet,
// the probes, the PUSHes just before the window closed, every 1000th PUSH (the unit test
// interpolates the one-byte PUSHes between) and every c2s packet once the window reopened.
func s2Listed(all []kcpPacketJSON, r s2Replay) ([]kcpPacketJSON, string) {
	keep := map[int]bool{}
	for i := 0; i < 8 && i < len(all); i++ {
		keep[i] = true
	}
	for i, p := range all {
		if p.Dir == "s2c" || i > r.WinsPackets[1] {
			keep[i] = true
		}
		for _, s := range p.Segments {
			if s.Cmd == "WASK" {
				keep[i] = true
			}
			if s.Cmd == "PUSH" && (s.Sn%1000 == 0 || s.Sn >= s2Window-5) {
				keep[i] = true
			}
		}
	}
	var out []kcpPacketJSON
	nc := 0
	for i, p := range all {
		if keep[i] {
			out = append(out, p)
		}
		if p.Dir == "c2s" {
			nc++
		}
	}
	return out, fmt.Sprintf("%d packets were captured (%d c2s, %d s2c); %d are listed, each with its index i in the full capture",
		len(all), nc, len(all)-nc, len(out))
}

func observeS2(all []kcpPacketJSON, r s2Replay) []string {
	obs := []string{fmt.Sprintf("the server's ACK of sn 65534 (packet %d, t=%.0f ms) advertises wnd 0",
		r.ZeroWindowAckPacket, all[r.ZeroWindowAckPacket].T)}
	for k := 0; k < 2; k++ {
		obs = append(obs, fmt.Sprintf("WASK at t=%.0f ms (packet %d), answered by WINS wnd 0 at t=%.0f ms (packet %d)",
			all[r.WaskPackets[k]].T, r.WaskPackets[k], all[r.WinsPackets[k]].T, r.WinsPackets[k]))
	}
	w := all[r.WindowUpdatePacket]
	obs = append(obs, fmt.Sprintf("after the application read, WINS wnd %d at t=%.0f ms (packet %d)",
		w.Segments[0].Wnd, w.T, r.WindowUpdatePacket))
	return obs
}

func envInt(name string, def int) int {
	var n int
	if _, err := fmt.Sscan(os.Getenv(name), &n); err == nil && n > 0 {
		return n
	}
	return def
}
