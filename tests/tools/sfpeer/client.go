package main

// sfpeer client: options, the sessions of a run, and how the run ends.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	mrand "math/rand"
	"net"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/xtaci/smux"
)

// Sessions still running this long after --timeout are counted as failed and left behind.
const unfinishedGrace = 5 * time.Second

type clientOptions struct {
	url            string
	connect        string
	clientIP       string
	ca             string
	insecure       bool
	sessions       int
	streams        int
	bytes          int64
	duration       time.Duration
	writeSize      int
	pingInterval   time.Duration
	pingSize       int
	idle           bool
	readyFile      string
	reconnectEvery time.Duration
	pad            int
	fragment       bool
	text           bool
	ramp           time.Duration
	mtu            int
	timeout        time.Duration
	dialTimeout    time.Duration
	dialRetries    int
	jsonOnly       bool
}

func parseClientOptions(args []string) (*clientOptions, error) {
	o := &clientOptions{}
	fs := flag.NewFlagSet("client", flag.ExitOnError)
	fs.StringVar(&o.url, "url", "", "the server: ws://HOST:PORT/ or wss://HOST:PORT/")
	fs.StringVar(&o.connect, "connect", "", "dial HOST:PORT instead of the URL's host, which still gives the Host header, TLS SNI and the name to verify")
	fs.StringVar(&o.clientIP, "client-ip", "", "add ?client_ip=IP to the URL, as a Snowflake proxy does")
	fs.StringVar(&o.ca, "ca", "", "wss: trust the CA certificate(s) in this PEM file")
	fs.BoolVar(&o.insecure, "insecure", false, "wss: do not verify the server's certificate")
	fs.IntVar(&o.sessions, "sessions", 1, "concurrent turbotunnel sessions")
	fs.IntVar(&o.streams, "streams", 1, "smux streams per session")
	fs.Int64Var(&o.bytes, "bytes", 0, "bulk: bytes each stream sends and verifies (default 1000000, or --duration)")
	fs.DurationVar(&o.duration, "duration", 0, "bulk with --bytes 0: send for this long; ping and idle: run or hold this long (default 10s)")
	fs.IntVar(&o.writeSize, "write-size", 16384, "bulk: bytes per Write")
	fs.DurationVar(&o.pingInterval, "ping-interval", 0, "ping workload: one message per stream this often")
	fs.IntVar(&o.pingSize, "ping-size", 1024, "ping workload: message size in bytes")
	fs.BoolVar(&o.idle, "idle", false, "idle workload: one echoed byte per stream, hold --duration, one more")
	fs.StringVar(&o.readyFile, "ready-file", "", "idle: create this file once every session is established")
	fs.DurationVar(&o.reconnectEvery, "reconnect-every", 0, "drop each session's WebSocket this often; the session redials with the same ClientID")
	fs.IntVar(&o.pad, "pad", 0, "bytes of encapsulation padding before every packet")
	fs.BoolVar(&o.fragment, "fragment", false, "cut the encapsulated byte stream into WebSocket messages at random places")
	fs.BoolVar(&o.text, "text", false, "send text messages instead of binary ones")
	fs.DurationVar(&o.ramp, "ramp", 0, "spread the session starts evenly over this long")
	fs.IntVar(&o.mtu, "mtu", 0, "KCP MTU (0: kcp-go's default 1400, as the Snowflake client)")
	fs.DurationVar(&o.timeout, "timeout", 120*time.Second, "hard limit for the whole run")
	fs.DurationVar(&o.dialTimeout, "dial-timeout", 10*time.Second, "WebSocket handshake timeout")
	fs.IntVar(&o.dialRetries, "dial-retries", 3, "WebSocket dial attempts per (re)dial")
	fs.BoolVar(&o.jsonOnly, "json", false, "stdout: only the JSON result (the summary line goes to stderr)")
	fs.Parse(args)

	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.url == "":
		return nil, errors.New("--url is required")
	case o.sessions < 1 || o.streams < 1:
		return nil, errors.New("--sessions and --streams must be at least 1")
	case o.writeSize < 1 || o.pad < 0 || o.bytes < 0 || o.mtu < 0:
		return nil, errors.New("--write-size must be at least 1; --pad, --bytes and --mtu not negative")
	case o.timeout <= 0 || o.dialTimeout <= 0 || o.dialRetries < 1:
		return nil, errors.New("--timeout and --dial-timeout must be positive, --dial-retries at least 1")
	case o.pingInterval < 0 || o.duration < 0 || o.ramp < 0 || o.reconnectEvery < 0:
		return nil, errors.New("durations must not be negative")
	case o.pingInterval > 0 && o.pingSize < 1:
		return nil, errors.New("--ping-size must be at least 1")
	case o.idle && o.pingInterval > 0:
		return nil, errors.New("--idle and --ping-interval exclude each other")
	}
	if o.workload() != "bulk" && o.duration == 0 {
		o.duration = 10 * time.Second
	}
	if o.workload() == "bulk" && o.bytes == 0 && o.duration == 0 {
		o.bytes = 1000000
	}
	return o, nil
}

func (o *clientOptions) workload() string {
	switch {
	case o.idle:
		return "idle"
	case o.pingInterval > 0:
		return "ping"
	}
	return "bulk"
}

// targetURL is --url with ?client_ip=IP added.
func (o *clientOptions) targetURL() (string, error) {
	u, err := url.Parse(o.url)
	if err != nil {
		return "", err
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return "", fmt.Errorf("--url: the scheme must be ws or wss, not %q", u.Scheme)
	}
	if o.clientIP != "" {
		q := u.Query()
		q.Set("client_ip", o.clientIP)
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

func (o *clientOptions) dialer() (*websocket.Dialer, error) {
	d := &websocket.Dialer{HandshakeTimeout: o.dialTimeout}
	if o.connect != "" {
		nd := &net.Dialer{Timeout: o.dialTimeout}
		d.NetDialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return nd.DialContext(ctx, network, o.connect)
		}
	}
	conf := &tls.Config{InsecureSkipVerify: o.insecure}
	if o.ca != "" {
		pem, err := os.ReadFile(o.ca)
		if err != nil {
			return nil, fmt.Errorf("--ca: %v", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca: no PEM certificate in %s", o.ca)
		}
		conf.RootCAs = roots
	}
	d.TLSClientConfig = conf
	return d, nil
}

// clientRun is one invocation of sfpeer client: all its sessions and their results.
type clientRun struct {
	opt      *clientOptions
	mode     string
	url      string
	setup    *tunnelSetup
	data     *payload
	salt     uint64 // makes every run's streams carry different bytes
	errs     *errorTally
	wire     wireStats
	ctx      context.Context
	deadline time.Time

	mu             sync.Mutex
	rtts           []float64 // ms, ping round trips
	setups         []float64 // ms, session start to first echoed byte
	wsConnects     []float64 // ms, first WebSocket handshake of each session
	sessionsOK     int
	sessionsFailed int
	streamsOK      int
	streamsFailed  int
	verifyFailures int
	firstWrite     time.Time
	lastDone       time.Time

	bytesSent, bytesVerified     int64 // atomic
	pingsSent, pingsOK, lateTick int64 // atomic
	dials, reconnects            int64 // atomic

	// idle: every stream reports once to idleSettled (established or failed); idleGo opens
	// when the hold is over.
	idleSettled sync.WaitGroup
	idleUp      int64 // atomic
	idleGo      chan struct{}
}

func (r *clientRun) sawFirstWrite(t time.Time) {
	r.mu.Lock()
	if r.firstWrite.IsZero() || t.Before(r.firstWrite) {
		r.firstWrite = t
	}
	r.mu.Unlock()
}

func (r *clientRun) sawStreamDone(t time.Time) {
	r.mu.Lock()
	if t.After(r.lastDone) {
		r.lastDone = t
	}
	r.mu.Unlock()
}

func (r *clientRun) verifyFailed() {
	r.mu.Lock()
	r.verifyFailures++
	r.mu.Unlock()
}

func msOf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (r *clientRun) sessionResult(streamsOK int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.streamsOK += streamsOK
	r.streamsFailed += r.opt.streams - streamsOK
	if streamsOK == r.opt.streams {
		r.sessionsOK++
	} else {
		r.sessionsFailed++
	}
}

// session runs session number i: its tunnel and one workload per stream.
func (r *clientRun) session(i int) {
	var settles []func()
	for s := 0; s < r.opt.streams; s++ {
		var once sync.Once
		settles = append(settles, func() {
			once.Do(func() {
				if r.mode == "idle" {
					r.idleSettled.Done()
				}
			})
		})
	}
	defer func() {
		for _, settle := range settles {
			settle() // streams that never got that far
		}
	}()

	if r.opt.ramp > 0 {
		delay := time.Duration(int64(r.opt.ramp) * int64(i) / int64(r.opt.sessions))
		if !sleepCtx(r.ctx, delay) {
			r.errs.note("timeout", errors.New("the run ended before this session's start in --ramp"))
			r.sessionResult(0)
			return
		}
	}
	began := time.Now()
	tun, err := openTunnel(r.ctx, r.setup)
	if err != nil {
		r.errs.note("tunnel", err)
		r.sessionResult(0)
		return
	}
	if r.opt.reconnectEvery > 0 {
		go tun.dropEvery(r.opt.reconnectEvery)
	}
	var firstEcho sync.Once
	echoed := func() {
		firstEcho.Do(func() {
			r.mu.Lock()
			r.setups = append(r.setups, msOf(time.Since(began)))
			r.mu.Unlock()
		})
	}

	var wg sync.WaitGroup
	var ok int64
	for s := 0; s < r.opt.streams; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			defer settles[s]()
			st, err := tun.mux.OpenStream()
			if err != nil {
				r.errs.note("smux_open", err)
				return
			}
			defer st.Close()
			st.SetDeadline(r.deadline)
			seed := r.salt ^ uint64(i)<<24 ^ uint64(s)
			if r.runStream(st, seed, echoed, settles[s]) {
				atomic.AddInt64(&ok, 1)
			}
		}(s)
	}
	wg.Wait()
	tun.Close()

	atomic.AddInt64(&r.dials, atomic.LoadInt64(&tun.dials))
	atomic.AddInt64(&r.reconnects, atomic.LoadInt64(&tun.dropped))
	if d, ok := tun.firstDialTime(); ok {
		r.mu.Lock()
		r.wsConnects = append(r.wsConnects, msOf(d))
		r.mu.Unlock()
	}
	r.sessionResult(int(ok))
}

func (r *clientRun) runStream(st *smux.Stream, seed uint64, echoed, settle func()) bool {
	switch r.mode {
	case "ping":
		return r.pingStream(st, seed, echoed)
	case "idle":
		return r.idleStream(st, echoed, settle)
	}
	return r.bulkStream(st, seed, echoed)
}

func clientCommand(args []string) int {
	o, err := parseClientOptions(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sfpeer client: %v\n", err)
		return 2
	}
	target, err := o.targetURL()
	if err != nil {
		fmt.Fprintf(os.Stderr, "sfpeer client: %v\n", err)
		return 2
	}
	dialer, err := o.dialer()
	if err != nil {
		fmt.Fprintf(os.Stderr, "sfpeer client: %v\n", err)
		return 2
	}
	how := framing{messageType: websocket.BinaryMessage, pad: o.pad, fragment: o.fragment}
	if o.text {
		how.messageType = websocket.TextMessage
	}
	r := &clientRun{
		opt:    o,
		mode:   o.workload(),
		url:    target,
		data:   newPayload(),
		salt:   mrand.Uint64(),
		errs:   newErrorTally(),
		idleGo: make(chan struct{}),
	}
	r.setup = &tunnelSetup{url: target, dialer: dialer, how: how, mtu: o.mtu,
		attempts: o.dialRetries, stats: &r.wire, errs: r.errs}

	start := time.Now()
	r.deadline = start.Add(o.timeout)
	ctx, cancel := context.WithDeadline(context.Background(), r.deadline)
	defer cancel()
	r.ctx = ctx
	if r.mode == "idle" {
		r.idleSettled.Add(o.sessions * o.streams)
	}
	finished := make(chan struct{})
	var sessions sync.WaitGroup
	for i := 0; i < o.sessions; i++ {
		sessions.Add(1)
		go func(i int) {
			defer sessions.Done()
			r.session(i)
		}(i)
	}
	go func() {
		sessions.Wait()
		close(finished)
	}()

	var readyAt time.Time
	if r.mode == "idle" {
		readyAt = r.holdIdle(start)
	}
	timedOut := false
	select {
	case <-finished:
	case <-ctx.Done():
		timedOut = true
		select { // tunnels are closing; give their goroutines a moment to report
		case <-finished:
		case <-time.After(unfinishedGrace):
		}
	}
	return r.report(start, time.Now(), readyAt, timedOut)
}

// holdIdle waits until every idle stream is established (or failed), announces it, holds for
// --duration and then lets the streams check that they still work.
func (r *clientRun) holdIdle(start time.Time) time.Time {
	settled := make(chan struct{})
	go func() {
		r.idleSettled.Wait()
		close(settled)
	}()
	select {
	case <-settled:
	case <-r.ctx.Done():
	}
	readyAt := time.Now()
	line, _ := json.Marshal(struct {
		Event       string  `json:"event"`
		Established int64   `json:"streams_established"`
		Total       int     `json:"streams_total"`
		SetupS      float64 `json:"setup_s"`
	}{"ready", atomic.LoadInt64(&r.idleUp), r.opt.sessions * r.opt.streams, round3(readyAt.Sub(start).Seconds())})
	fmt.Fprintln(os.Stderr, string(line))
	if r.opt.readyFile != "" {
		if err := os.WriteFile(r.opt.readyFile, append(line, '\n'), 0o644); err != nil {
			r.errs.note("ready_file", err)
		}
	}
	sleepCtx(r.ctx, time.Until(readyAt.Add(r.opt.duration)))
	close(r.idleGo)
	return readyAt
}
