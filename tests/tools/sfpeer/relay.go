package main

// sfpeer echo, and the listener loop it shares with sfpeer extor.

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// serverCounters are reported when an echo or extor server exits.
type serverCounters struct {
	Conns     int64 `json:"conns"`      // connections accepted
	Active    int64 `json:"active"`     // connections open at exit
	BytesIn   int64 `json:"bytes_in"`   // data bytes read (after any ExtORPort handshake)
	BytesOut  int64 `json:"bytes_out"`  // data bytes echoed
	AuthFails int64 `json:"auth_fails"` // extor: handshakes that failed before authentication
}

func (c *serverCounters) load() serverCounters {
	return serverCounters{
		Conns: atomic.LoadInt64(&c.Conns), Active: atomic.LoadInt64(&c.Active),
		BytesIn: atomic.LoadInt64(&c.BytesIn), BytesOut: atomic.LoadInt64(&c.BytesOut),
		AuthFails: atomic.LoadInt64(&c.AuthFails),
	}
}

var stdoutMu sync.Mutex

// printLine writes v as one JSON line on stdout; lines of concurrent connections never mix.
func printLine(v interface{}) {
	js, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	stdoutMu.Lock()
	os.Stdout.Write(append(js, '\n'))
	stdoutMu.Unlock()
}

type listeningLine struct {
	Event  string `json:"event"`
	Mode   string `json:"mode"`
	Addr   string `json:"addr"`
	Cookie string `json:"cookie,omitempty"`
}

// relay echoes what it reads from r back to conn, or only counts it (sink), until EOF; after
// the peer's EOF it half-closes, so a peer waiting for the rest of its echo still gets it.
func relay(conn net.Conn, r io.Reader, sink bool, ctr *serverCounters) {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			atomic.AddInt64(&ctr.BytesIn, int64(n))
			if !sink {
				w, werr := conn.Write(buf[:n])
				atomic.AddInt64(&ctr.BytesOut, int64(w))
				if werr != nil {
					return
				}
			}
		}
		if err != nil {
			break
		}
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		tcp.CloseWrite()
	}
}

// serve accepts connections and runs handle on each until SIGINT/SIGTERM or the end of
// lifetime (0: no limit), then prints {"event":"<kind>_exit",...} with the counters.
func serve(ln net.Listener, kind string, lifetime time.Duration, ctr *serverCounters, handle func(net.Conn)) {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	var expired <-chan time.Time
	if lifetime > 0 {
		expired = time.After(lifetime)
	}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					continue
				}
				if errors.Is(err, net.ErrClosed) {
					return
				}
				time.Sleep(10 * time.Millisecond) // e.g. out of descriptors: try again
				continue
			}
			atomic.AddInt64(&ctr.Conns, 1)
			atomic.AddInt64(&ctr.Active, 1)
			go func() {
				defer atomic.AddInt64(&ctr.Active, -1)
				defer conn.Close()
				handle(conn)
			}()
		}
	}()
	reason := "signal"
	select {
	case <-stop:
	case <-expired:
		reason = "lifetime"
	}
	ln.Close()
	printLine(struct {
		Event    string         `json:"event"`
		Reason   string         `json:"reason"`
		Counters serverCounters `json:"counters"`
	}{kind + "_exit", reason, ctr.load()})
}

func echoCommand(args []string) int {
	fs := flag.NewFlagSet("echo", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "TCP address to listen on (port 0: any free port)")
	sink := fs.Bool("sink", false, "count and discard what arrives instead of echoing it")
	lifetime := fs.Duration("lifetime", 0, "exit after this long (0: only on SIGINT/SIGTERM)")
	fs.Parse(args)
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "sfpeer echo: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sfpeer echo: %v\n", err)
		return 1
	}
	mode := "echo"
	if *sink {
		mode = "sink"
	}
	printLine(listeningLine{Event: "listening", Mode: mode, Addr: ln.Addr().String()})
	var ctr serverCounters
	serve(ln, mode, *lifetime, &ctr, func(c net.Conn) { relay(c, c, *sink, &ctr) })
	return 0
}
