package main

// The client's result: one JSON object (fields listed in README.md) and one summary line.

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/xtaci/kcp-go/v5"
)

type wireReport struct {
	MsgsOut  int64 `json:"msgs_out"`
	BytesOut int64 `json:"bytes_out"`
	MsgsIn   int64 `json:"msgs_in"`
	BytesIn  int64 `json:"bytes_in"`
	PktsOut  int64 `json:"pkts_out"`
	PktsIn   int64 `json:"pkts_in"`
}

// kcpReport: kcp-go's counters for the whole process. kcp_in_errors > 0 means the server sent
// KCP packets kcp-go could not parse; in_pkts below wire.pkts_in means packets dropped in the
// RedialPacketConn's receive queue; repeat_segs counts segments received twice.
type kcpReport struct {
	InPkts       uint64 `json:"in_pkts"`
	OutPkts      uint64 `json:"out_pkts"`
	InSegs       uint64 `json:"in_segs"`
	OutSegs      uint64 `json:"out_segs"`
	RetransSegs  uint64 `json:"retrans_segs"`
	FastRetrans  uint64 `json:"fast_retrans_segs"`
	EarlyRetrans uint64 `json:"early_retrans_segs"`
	LostSegs     uint64 `json:"lost_segs"`
	RepeatSegs   uint64 `json:"repeat_segs"`
	KCPInErrors  uint64 `json:"kcp_in_errors"`
}

type optionsReport struct {
	Bytes          int64   `json:"bytes"`
	DurationS      float64 `json:"duration_s"`
	ReconnectS     float64 `json:"reconnect_every_s"`
	Pad            int     `json:"pad"`
	Fragment       bool    `json:"fragment"`
	Text           bool    `json:"text"`
	PingIntervalMs float64 `json:"ping_interval_ms"`
	PingSize       int     `json:"ping_size"`
	WriteSize      int     `json:"write_size"`
	MTU            int     `json:"mtu"`
	TimeoutS       float64 `json:"timeout_s"`
	RampS          float64 `json:"ramp_s"`
	ClientIP       string  `json:"client_ip"`
	Connect        string  `json:"connect"`
}

type pingReport struct {
	Sent      int64 `json:"sent"`
	OK        int64 `json:"ok"`
	LateTicks int64 `json:"late_ticks"`
}

type idleReport struct {
	Established int64   `json:"established"`
	SetupS      float64 `json:"setup_s"`
}

type clientReport struct {
	Mode              string         `json:"mode"`
	URL               string         `json:"url"`
	Sessions          int            `json:"sessions"`
	StreamsPerSession int            `json:"streams_per_session"`
	SessionsOK        int            `json:"sessions_ok"`
	SessionsFailed    int            `json:"sessions_failed"`
	StreamsOK         int            `json:"streams_ok"`
	StreamsFailed     int            `json:"streams_failed"`
	BytesSent         int64          `json:"bytes_sent"`
	BytesVerified     int64          `json:"bytes_verified"`
	VerifyFailures    int            `json:"verify_failures"`
	ElapsedS          float64        `json:"elapsed_s"`
	TransferS         float64        `json:"transfer_s"`
	MBPerS            float64        `json:"mb_per_s"`
	LatencyMs         *spread        `json:"latency_ms"`
	SetupMs           *spread        `json:"setup_ms"`
	WSConnectMs       *spread        `json:"ws_connect_ms"`
	WSDials           int64          `json:"ws_dials"`
	Reconnects        int64          `json:"reconnects"`
	TimedOut          bool           `json:"timed_out"`
	Errors            map[string]int `json:"errors"`
	ErrorSamples      []string       `json:"error_samples,omitempty"`
	Wire              wireReport     `json:"wire"`
	KCPClient         kcpReport      `json:"kcp_client"`
	Pings             *pingReport    `json:"pings,omitempty"`
	Idle              *idleReport    `json:"idle,omitempty"`
	Options           optionsReport  `json:"options"`
}

func (r *clientRun) report(start, end, readyAt time.Time, timedOut bool) int {
	o := r.opt
	r.mu.Lock()
	defer r.mu.Unlock()
	// Sessions that had not reported by now (hard timeout) failed.
	if missing := o.sessions - r.sessionsOK - r.sessionsFailed; missing > 0 {
		r.sessionsFailed += missing
		r.streamsFailed += missing * o.streams
		r.errs.add("unfinished_session", missing)
	}
	errs, samples := r.errs.snapshot()
	verified := atomic.LoadInt64(&r.bytesVerified)
	transfer := 0.0
	if !r.firstWrite.IsZero() && r.lastDone.After(r.firstWrite) {
		transfer = r.lastDone.Sub(r.firstWrite).Seconds()
	}
	rate := 0.0
	if r.mode == "bulk" && transfer > 0 {
		rate = float64(verified) / transfer / 1e6
	}
	snmp := kcp.DefaultSnmp.Copy()
	rep := clientReport{
		Mode: r.mode, URL: r.url, Sessions: o.sessions, StreamsPerSession: o.streams,
		SessionsOK: r.sessionsOK, SessionsFailed: r.sessionsFailed,
		StreamsOK: r.streamsOK, StreamsFailed: r.streamsFailed,
		BytesSent: atomic.LoadInt64(&r.bytesSent), BytesVerified: verified,
		VerifyFailures: r.verifyFailures,
		ElapsedS:       round3(end.Sub(start).Seconds()), TransferS: round3(transfer), MBPerS: round3(rate),
		LatencyMs: summarize(r.rtts), SetupMs: summarize(r.setups), WSConnectMs: summarize(r.wsConnects),
		WSDials: atomic.LoadInt64(&r.dials), Reconnects: atomic.LoadInt64(&r.reconnects),
		TimedOut: timedOut, Errors: errs, ErrorSamples: samples,
		Wire: wireReport{
			MsgsOut: atomic.LoadInt64(&r.wire.msgsOut), BytesOut: atomic.LoadInt64(&r.wire.bytesOut),
			MsgsIn: atomic.LoadInt64(&r.wire.msgsIn), BytesIn: atomic.LoadInt64(&r.wire.bytesIn),
			PktsOut: atomic.LoadInt64(&r.wire.pktsOut), PktsIn: atomic.LoadInt64(&r.wire.pktsIn),
		},
		KCPClient: kcpReport{
			InPkts: snmp.InPkts, OutPkts: snmp.OutPkts, InSegs: snmp.InSegs, OutSegs: snmp.OutSegs,
			RetransSegs: snmp.RetransSegs, FastRetrans: snmp.FastRetransSegs,
			EarlyRetrans: snmp.EarlyRetransSegs, LostSegs: snmp.LostSegs,
			RepeatSegs: snmp.RepeatSegs, KCPInErrors: snmp.KCPInErrors,
		},
		Options: optionsReport{
			Bytes: o.bytes, DurationS: o.duration.Seconds(), ReconnectS: o.reconnectEvery.Seconds(),
			Pad: o.pad, Fragment: o.fragment, Text: o.text, PingIntervalMs: msOf(o.pingInterval),
			PingSize: o.pingSize, WriteSize: o.writeSize, MTU: o.mtu, TimeoutS: o.timeout.Seconds(),
			RampS: o.ramp.Seconds(), ClientIP: o.clientIP, Connect: o.connect,
		},
	}
	if r.mode == "ping" {
		rep.Pings = &pingReport{Sent: atomic.LoadInt64(&r.pingsSent), OK: atomic.LoadInt64(&r.pingsOK),
			LateTicks: atomic.LoadInt64(&r.lateTick)}
	}
	if r.mode == "idle" && !readyAt.IsZero() {
		rep.Idle = &idleReport{Established: atomic.LoadInt64(&r.idleUp), SetupS: round3(readyAt.Sub(start).Seconds())}
	}
	failed := rep.VerifyFailures > 0 || rep.SessionsFailed > 0 || rep.StreamsFailed > 0
	js, _ := json.Marshal(rep)
	line := r.summaryLine(&rep, failed)
	if o.jsonOnly {
		fmt.Println(string(js))
		fmt.Fprintln(os.Stderr, line)
	} else {
		fmt.Println(line)
		fmt.Println(string(js))
	}
	if failed {
		return 1
	}
	return 0
}

// summaryLine: "sfpeer bulk: sessions 1/1 ok, streams 1/1 ok, 200.0 MB verified in ... -- OK".
func (r *clientRun) summaryLine(rep *clientReport, failed bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "sfpeer %s: sessions %d/%d ok, streams %d/%d ok", rep.Mode, rep.SessionsOK,
		rep.Sessions, rep.StreamsOK, rep.Sessions*rep.StreamsPerSession)
	switch rep.Mode {
	case "bulk":
		fmt.Fprintf(&b, ", %.1f MB verified in %.2f s = %.2f MB/s", float64(rep.BytesVerified)/1e6,
			rep.TransferS, rep.MBPerS)
	case "ping":
		if l := rep.LatencyMs; l != nil {
			fmt.Fprintf(&b, ", %d pings, rtt p50 %.2f p90 %.2f p99 %.2f max %.2f ms", l.Count, l.P50,
				l.P90, l.P99, l.Max)
		}
	case "idle":
		fmt.Fprintf(&b, ", held %s", r.opt.duration)
	}
	if s := rep.SetupMs; s != nil {
		fmt.Fprintf(&b, ", setup p50 %.1f ms", s.P50)
	}
	if rep.Reconnects > 0 {
		fmt.Fprintf(&b, ", %d reconnects", rep.Reconnects)
	}
	if len(rep.Errors) == 0 {
		b.WriteString(", no errors")
	} else {
		kinds, _ := json.Marshal(rep.Errors)
		fmt.Fprintf(&b, ", errors %s", kinds)
	}
	if failed {
		b.WriteString(" -- FAIL")
	} else {
		b.WriteString(" -- OK")
	}
	return b.String()
}
