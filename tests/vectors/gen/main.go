// Command sfvectors writes the JSON wire vectors of tests/vectors by running the real Go
// libraries (Debian's snowflake common/encapsulation, goptlib, smux, kcp-go). See ../README.md.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
)

// A part writes one file into the output directory.
type part struct {
	name string
	run  func(dir string) error
}

var parts = []part{
	{"encapsulation", writeEncapsulation},
	{"extorport", writeExtorport},
	{"smux", writeSmux},
	{"kcp", writeKCP},
}

func main() {
	out := flag.String("out", ".", "directory the JSON files are written to")
	only := flag.String("only", "encapsulation,extorport,smux,kcp", "comma-separated files to write")
	flag.Parse()

	*only = strings.ReplaceAll(*only, " ", "")
	want := map[string]bool{}
	for _, w := range strings.Split(*only, ",") {
		want[w] = true
	}
	// The captures spend most of their time waiting on real KCP and smux timers, so the parts
	// run side by side: the whole run lasts as long as the slowest part (the KCP window probes).
	for _, p := range parts {
		delete(want, p.name)
	}
	for name := range want {
		fmt.Fprintf(os.Stderr, "sfvectors: unknown part %q\n", name)
		os.Exit(2)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(parts))
	for i, p := range parts {
		if !strings.Contains(","+*only+",", ","+p.name+",") {
			continue
		}
		// extorport swaps crypto/rand.Reader for a moment: nothing else may run meanwhile.
		if p.name == "extorport" {
			errs[i] = p.run(*out)
			continue
		}
		wg.Add(1)
		go func(i int, p part) {
			defer wg.Done()
			errs[i] = p.run(*out)
		}(i, p)
	}
	wg.Wait()
	failed := false
	for i, err := range errs {
		if err != nil {
			fmt.Fprintf(os.Stderr, "sfvectors: %s: %v\n", parts[i].name, err)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}
