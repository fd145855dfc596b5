package main

// smux.json: real smux client and server sessions, configured as snowflake configures them, over
// an in-memory pipe whose every write is recorded (smux writes one frame per Write when the
// connection has no vectored write). Frame encodings are deterministic; the timing and the order
// of frames of different streams are scheduling.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/xtaci/smux"
)

var smuxCmdNames = []string{"SYN", "FIN", "PSH", "NOP", "UPD"}

// Payloads up to this size are given in hex; longer ones as a length and a SHA-256.
const smuxPayloadHexMax = 64

// snowflakeSmuxConfig is what snowflake's client (server=false) and server use: smux v2, 1 MiB
// stream window, keepalive timeout 10 min (client) or 4 min (server), everything else default.
func snowflakeSmuxConfig(server bool) *smux.Config {
	c := smux.DefaultConfig()
	c.Version = 2
	c.MaxStreamBuffer = 1 << 20
	c.KeepAliveTimeout = 10 * time.Minute
	if server {
		c.KeepAliveTimeout = 4 * time.Minute
	}
	return c
}

type smuxWrite struct {
	T   float64  `json:"t_ms"`
	Hex hexBytes `json:"hex"`
}

type smuxFrame struct {
	T              float64  `json:"t_ms"`
	Offset         int      `json:"offset"`
	Cmd            string   `json:"cmd"`
	Sid            uint32   `json:"sid"`
	Len            int      `json:"len"`
	HeaderHex      hexBytes `json:"header_hex"`
	PayloadHex     hexBytes `json:"payload_hex,omitempty"`
	PayloadSummary string   `json:"payload_summary,omitempty"`
	UpdConsumed    *uint32  `json:"upd_consumed,omitempty"`
	UpdWindow      *uint32  `json:"upd_window,omitempty"`
}

// recordingConn records each Write of one end of the pipe until frozen.
type recordingConn struct {
	net.Conn
	t0     time.Time
	mu     sync.Mutex
	writes []smuxWrite
	frozen bool
}

func (r *recordingConn) Write(p []byte) (int, error) {
	r.mu.Lock()
	if !r.frozen {
		r.writes = append(r.writes, smuxWrite{
			T:   float64(time.Since(r.t0).Microseconds()) / 1000,
			Hex: append(hexBytes(nil), p...),
		})
	}
	r.mu.Unlock()
	return r.Conn.Write(p)
}

// freeze stops recording and returns what was written.
func (r *recordingConn) freeze() []smuxWrite {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.frozen = true
	return append([]smuxWrite(nil), r.writes...)
}

func (r *recordingConn) count(cmd byte) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, f := range framesOf(r.writes) {
		if f.Cmd == smuxCmdNames[cmd] {
			n++
		}
	}
	return n
}

// framesOf parses the concatenated writes into frames; each frame takes the time of the write
// it starts in.
func framesOf(writes []smuxWrite) []smuxFrame {
	var stream []byte
	var starts []int
	for _, w := range writes {
		starts = append(starts, len(stream))
		stream = append(stream, w.Hex...)
	}
	var out []smuxFrame
	for off := 0; off+8 <= len(stream); {
		h := stream[off : off+8]
		n := int(binary.LittleEndian.Uint16(h[2:]))
		if off+8+n > len(stream) || int(h[1]) >= len(smuxCmdNames) {
			break
		}
		w := sort.SearchInts(starts, off+1) - 1
		f := smuxFrame{T: writes[w].T, Offset: off, Cmd: smuxCmdNames[h[1]],
			Sid: binary.LittleEndian.Uint32(h[4:]), Len: n, HeaderHex: append(hexBytes(nil), h...)}
		payload := stream[off+8 : off+8+n]
		if n > 0 && (n <= smuxPayloadHexMax || f.Cmd == "UPD") {
			f.PayloadHex = append(hexBytes(nil), payload...)
		} else if n > 0 {
			f.PayloadSummary = fmt.Sprintf("%d bytes, sha256 %s", n, sha256Hex(payload))
		}
		if f.Cmd == "UPD" && n == 8 {
			c, w := binary.LittleEndian.Uint32(payload), binary.LittleEndian.Uint32(payload[4:])
			f.UpdConsumed, f.UpdWindow = &c, &w
		}
		out = append(out, f)
		off += 8 + n
	}
	return out
}

// smuxPair is a client and a server session over a recorded in-memory pipe.
type smuxPair struct {
	c2s, s2c       *recordingConn
	client, server *smux.Session
}

func newSmuxPair() (*smuxPair, error) {
	a, b := net.Pipe()
	t0 := time.Now()
	p := &smuxPair{c2s: &recordingConn{Conn: a, t0: t0}, s2c: &recordingConn{Conn: b, t0: t0}}
	var err error
	if p.client, err = smux.Client(p.c2s, snowflakeSmuxConfig(false)); err != nil {
		return nil, err
	}
	if p.server, err = smux.Server(p.s2c, snowflakeSmuxConfig(true)); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *smuxPair) close() {
	p.c2s.freeze()
	p.s2c.freeze()
	p.client.Close()
	p.server.Close()
}

type smuxDirection struct {
	StreamHex hexBytes    `json:"stream_hex"`
	Writes    []smuxWrite `json:"writes"`
	Frames    []smuxFrame `json:"frames"`
}

func direction(writes []smuxWrite) smuxDirection {
	d := smuxDirection{Writes: writes, Frames: framesOf(writes)}
	d.StreamHex = hexBytes{}
	for _, w := range writes {
		d.StreamHex = append(d.StreamHex, w.Hex...)
	}
	return d
}

type smuxExchange struct {
	Description    string        `json:"description"`
	Steps          []string      `json:"steps"`
	ClientToServer smuxDirection `json:"client_to_server"`
	ServerToClient smuxDirection `json:"server_to_client"`
}

// waitFor polls cond every 20 ms for at most limit.
func waitFor(limit time.Duration, cond func() bool) bool {
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

func smuxRunExchange() (smuxExchange, error) {
	ex := smuxExchange{
		Description: "A client and a server session (snowflake settings) over an in-memory pipe; each " +
			"direction's writes, the byte stream they make and its frames.",
		Steps: []string{
			"client opens two streams: ids 3 and 5",
			"client writes 3000 bytes (byte i = 0x30 + i mod 256) on stream 3, then 2000 bytes (byte i = 0x50 + i mod 256) on stream 5",
			"server accepts both and echoes each with io.Copy(stream, stream), i.e. Stream.WriteTo, as the reference server copies to its ORPort",
			"client reads both echoes",
			"client closes stream 3 (FIN); the server's copy sees EOF and the server closes stream 3 (FIN)",
			"both sessions stay idle until their first keepalive NOP (10 s); stream 5 stays open",
		},
	}
	p, err := newSmuxPair()
	if err != nil {
		return ex, err
	}
	defer p.close()
	echoDone := make(chan error, 2)
	go func() {
		for i := 0; i < 2; i++ {
			st, err := p.server.AcceptStream()
			if err != nil {
				echoDone <- err
				return
			}
			go func() {
				// Stream.WriteTo ends with io.EOF when the peer closed: the normal end.
				_, err := io.Copy(st, st)
				if err == nil || err == io.EOF {
					err = st.Close()
				}
				echoDone <- err
			}()
		}
	}()
	sizes := map[uint32]int{3: 3000, 5: 2000}
	starts := map[uint32]byte{3: 0x30, 5: 0x50}
	var streams []*smux.Stream
	for i := 0; i < 2; i++ {
		st, err := p.client.OpenStream()
		if err != nil {
			return ex, err
		}
		streams = append(streams, st)
	}
	for _, st := range streams {
		if _, err := st.Write(countingBytes(sizes[st.ID()], starts[st.ID()])); err != nil {
			return ex, err
		}
	}
	for _, st := range streams {
		got := make([]byte, sizes[st.ID()])
		st.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(st, got); err != nil {
			return ex, fmt.Errorf("echo of stream %d: %v", st.ID(), err)
		}
		if !bytes.Equal(got, countingBytes(sizes[st.ID()], starts[st.ID()])) {
			return ex, fmt.Errorf("echo of stream %d differs", st.ID())
		}
	}
	if err := streams[0].Close(); err != nil {
		return ex, err
	}
	select {
	case err := <-echoDone:
		if err != nil {
			return ex, err
		}
	case <-time.After(5 * time.Second):
		return ex, errors.New("the server did not finish stream 3")
	}
	if !waitFor(15*time.Second, func() bool { return p.c2s.count(3) > 0 && p.s2c.count(3) > 0 }) {
		return ex, errors.New("no keepalive NOP from both sides")
	}
	ex.ClientToServer = direction(p.c2s.freeze())
	ex.ServerToClient = direction(p.s2c.freeze())
	return ex, nil
}

type smuxFlow struct {
	Description          string      `json:"description"`
	ClientWriteBytes     int         `json:"client_write_bytes"`
	ServerReadDelayMs    int         `json:"server_read_delay_ms"`
	PshBytesBeforeRead   int         `json:"psh_payload_bytes_sent_before_server_read"`
	ClientToServerFrames []smuxFrame `json:"client_to_server_frames"`
	ServerToClientFrames []smuxFrame `json:"server_to_client_frames"`
	ServerReader         string      `json:"server_reader"`
}

// countingSink takes everything and counts it.
type countingSink struct {
	mu sync.Mutex
	n  int
}

func (c *countingSink) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.n += len(p)
	c.mu.Unlock()
	return len(p), nil
}

func (c *countingSink) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func smuxRunFlow() (smuxFlow, error) {
	const total, delay = 1200000, 300
	fl := smuxFlow{
		Description: "The client writes 1200000 bytes (byte i = i mod 256) on stream 3 in one Write; the server " +
			"accepts the stream but reads nothing until the client has sent nothing new for 300 ms, then drains it with Stream.WriteTo into a " +
			"counting sink. Before the first UPD the client may send only the initial peer window.",
		ClientWriteBytes: total, ServerReadDelayMs: delay,
		ServerReader: "Stream.WriteTo into a counting sink",
	}
	p, err := newSmuxPair()
	if err != nil {
		return fl, err
	}
	defer p.close()
	sink := &countingSink{}
	readStart := make(chan int, 1)
	drained := make(chan error, 1)
	go func() {
		st, err := p.server.AcceptStream()
		if err != nil {
			drained <- err
			return
		}
		// Read only once the client is stalled: it sent something and nothing more for the
		// delay (a loaded machine may take a while to get the writer going).
		last, still := -1, 0
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			n := len(p.c2s.freezeCopy())
			if n == last && n > 1 {
				still += 50
			} else {
				still = 0
			}
			last = n
			if still >= delay {
				break
			}
		}
		readStart <- len(p.c2s.freezeCopy())
		_, err = st.WriteTo(sink)
		drained <- err
	}()
	st, err := p.client.OpenStream()
	if err != nil {
		return fl, err
	}
	if _, err := st.Write(countingBytes(total, 0)); err != nil {
		return fl, err
	}
	writesBeforeRead := <-readStart
	if !waitFor(5*time.Second, func() bool { return sink.count() == total }) {
		return fl, fmt.Errorf("server drained %d of %d bytes", sink.count(), total)
	}
	// Let the last UPD be written.
	time.Sleep(50 * time.Millisecond)
	c2s := p.c2s.freeze()
	for _, f := range framesOf(c2s[:writesBeforeRead]) {
		if f.Cmd == "PSH" {
			fl.PshBytesBeforeRead += f.Len
		}
	}
	fl.ClientToServerFrames = framesOf(c2s)
	fl.ServerToClientFrames = framesOf(p.s2c.freeze())
	return fl, nil
}

// freezeCopy returns the writes so far without stopping the recording.
func (r *recordingConn) freezeCopy() []smuxWrite {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]smuxWrite(nil), r.writes...)
}

type frameVector struct {
	Name        string   `json:"name"`
	Source      string   `json:"source"`
	Hex         hexBytes `json:"hex"`
	Cmd         string   `json:"cmd"`
	Sid         uint32   `json:"sid"`
	Len         int      `json:"len"`
	UpdConsumed *uint32  `json:"upd_consumed,omitempty"`
	UpdWindow   *uint32  `json:"upd_window,omitempty"`
}

// vectorOf turns a captured frame into a frame vector: whole when the payload is in hex, the
// header alone otherwise.
func vectorOf(side, source string, f smuxFrame) frameVector {
	v := frameVector{Source: source, Cmd: f.Cmd, Sid: f.Sid, Len: f.Len,
		Hex:         append(append(hexBytes(nil), f.HeaderHex...), f.PayloadHex...),
		UpdConsumed: f.UpdConsumed, UpdWindow: f.UpdWindow}
	v.Name = fmt.Sprintf("%s %s sid %d len %d", side, f.Cmd, f.Sid, f.Len)
	if f.Cmd == "UPD" {
		v.Name = fmt.Sprintf("%s UPD sid %d consumed %d window %d", side, f.Sid, *f.UpdConsumed, *f.UpdWindow)
	}
	if f.Len > 0 && f.PayloadHex == nil {
		v.Name += " (header only)"
	}
	return v
}

// smuxRunSplit shows how Writes become frames: a 2-byte Write, a Read of it on the server (which
// answers with its first UPD), then a 40000-byte Write split at MaxFrameSize.
func smuxRunSplit() ([]frameVector, error) {
	p, err := newSmuxPair()
	if err != nil {
		return nil, err
	}
	defer p.close()
	accepted := make(chan *smux.Stream, 1)
	go func() {
		if st, err := p.server.AcceptStream(); err == nil {
			accepted <- st
		}
	}()
	st, err := p.client.OpenStream()
	if err != nil {
		return nil, err
	}
	if _, err := st.Write([]byte("hi")); err != nil {
		return nil, err
	}
	var srv *smux.Stream
	select {
	case srv = <-accepted:
	case <-time.After(5 * time.Second):
		return nil, errors.New("no stream accepted")
	}
	buf := make([]byte, 2)
	srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(srv, buf); err != nil {
		return nil, err
	}
	if !waitFor(5*time.Second, func() bool { return p.s2c.count(4) == 1 }) {
		return nil, errors.New("no UPD after the server's Read")
	}
	if _, err := st.Write(countingBytes(40000, 0)); err != nil {
		return nil, err
	}
	if !waitFor(5*time.Second, func() bool { return p.c2s.count(2) == 3 }) {
		return nil, errors.New("the 40000-byte Write did not arrive")
	}
	var out []frameVector
	const source = `client Write("hi"), server Read of 2 bytes, client Write(40000 bytes)`
	for _, f := range framesOf(p.c2s.freeze()) {
		out = append(out, vectorOf("client", source, f))
	}
	for _, f := range framesOf(p.s2c.freeze()) {
		out = append(out, vectorOf("server", source, f))
	}
	return out, nil
}

type smuxFile struct {
	Info         info          `json:"info"`
	Description  string        `json:"description"`
	FrameVectors []frameVector `json:"frame_vectors"`
	Exchange     smuxExchange  `json:"exchange"`
	FlowControl  smuxFlow      `json:"flow_control"`
}

// exchangeVectors picks one frame of each kind per side from the exchange, in a fixed order, so
// that the list does not depend on scheduling.
func exchangeVectors(ex smuxExchange) []frameVector {
	var out []frameVector
	for _, side := range []struct {
		name   string
		frames []smuxFrame
	}{{"client", ex.ClientToServer.Frames}, {"server", ex.ServerToClient.Frames}} {
		seen := map[string]bool{}
		var vs []frameVector
		for _, f := range side.frames {
			v := vectorOf(side.name, "exchange", f)
			if !seen[v.Name] {
				seen[v.Name] = true
				vs = append(vs, v)
			}
		}
		sort.SliceStable(vs, func(i, j int) bool { return vs[i].Name < vs[j].Name })
		out = append(out, vs...)
	}
	return out
}

func writeSmux(dir string) error {
	f := smuxFile{
		Info: newInfo("smux"),
		Description: "smux version 2 frames written by the real library: 8-byte header (ver, cmd, len " +
			"little-endian uint16, sid little-endian uint32), then len payload bytes; UPD's payload is " +
			"consumed and window, little-endian uint32. Sessions use snowflake's settings.",
	}
	type result struct {
		ex    smuxExchange
		flow  smuxFlow
		split []frameVector
		err   error
	}
	var exR, flowR, splitR result
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); exR.ex, exR.err = smuxRunExchange() }()
	go func() { defer wg.Done(); flowR.flow, flowR.err = smuxRunFlow() }()
	go func() { defer wg.Done(); splitR.split, splitR.err = smuxRunSplit() }()
	wg.Wait()
	for i, r := range []result{exR, flowR, splitR} {
		if r.err != nil {
			return fmt.Errorf("%s: %v", []string{"exchange", "flow control", "frame split"}[i], r.err)
		}
	}
	f.Exchange, f.FlowControl = exR.ex, flowR.flow
	f.FrameVectors = append(exchangeVectors(exR.ex), splitR.split...)
	for _, fr := range flowR.flow.ServerToClientFrames {
		f.FrameVectors = append(f.FrameVectors, vectorOf("server", "flow_control", fr))
	}
	return writeFile(dir, "smux.json", f)
}
