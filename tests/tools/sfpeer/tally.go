package main

// Counting what went wrong, and summarizing timings, for the client's JSON result.

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
)

const keptErrorSamples = 8

// errorTally counts errors by kind and keeps the first few messages as samples.
type errorTally struct {
	mu      sync.Mutex
	byKind  map[string]int
	samples []string
}

func newErrorTally() *errorTally { return &errorTally{byKind: map[string]int{}} }

func (t *errorTally) note(kind string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.byKind[kind]++
	if err != nil && len(t.samples) < keptErrorSamples {
		t.samples = append(t.samples, kind+": "+err.Error())
	}
}

func (t *errorTally) add(kind string, n int) {
	t.mu.Lock()
	t.byKind[kind] += n
	t.mu.Unlock()
}

func (t *errorTally) snapshot() (map[string]int, []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	kinds := make(map[string]int, len(t.byKind))
	for k, v := range t.byKind {
		kinds[k] = v
	}
	return kinds, append([]string(nil), t.samples...)
}

// errorKind names an I/O error of operation op ("read", "write", ...): "timeout" for any
// deadline, op+"_eof" for an early end of stream, op+"_closed" for a closed connection, else op.
func errorKind(op string, err error) string {
	var ne net.Error
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	switch {
	case err == nil:
		return op
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout(), strings.Contains(msg, "timeout"):
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return op + "_eof"
	case errors.Is(err, io.ErrClosedPipe), errors.Is(err, net.ErrClosed), strings.Contains(msg, "closed"):
		return op + "_closed"
	}
	return op
}

func isTimeout(err error) bool { return err != nil && errorKind("", err) == "timeout" }

// spread summarizes samples (milliseconds); percentiles are nearest-rank.
type spread struct {
	Count int     `json:"count"`
	Min   float64 `json:"min"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// summarize returns nil (JSON null) for no samples. It sorts a copy.
func summarize(samples []float64) *spread {
	if len(samples) == 0 {
		return nil
	}
	xs := append([]float64(nil), samples...)
	sort.Float64s(xs)
	rank := func(pct float64) float64 {
		i := int(math.Ceil(pct/100*float64(len(xs)))) - 1
		if i < 0 {
			i = 0
		}
		return round3(xs[i])
	}
	total := 0.0
	for _, x := range xs {
		total += x
	}
	return &spread{
		Count: len(xs), Min: round3(xs[0]), Mean: round3(total / float64(len(xs))),
		P50: rank(50), P90: rank(90), P99: rank(99), Max: round3(xs[len(xs)-1]),
	}
}
