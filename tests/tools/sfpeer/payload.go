package main

// The bytes a bulk or ping stream sends. Hundreds of megabytes of fresh random data would cost
// the client (which shares the CPUs with the server under test) more than the server spends
// relaying them, so every stream reads its bytes out of one random pool: the stream is cut
// into blocks of payloadBlock bytes, and block k of stream s is the pool slice that starts at
// an offset mixed from (s, k). Different streams and different blocks therefore differ, a
// reordered, duplicated or dropped block shows up at once, and the receiver can recompute the
// expected byte at any stream offset without keeping a copy of what was sent.

import (
	"bytes"
	"crypto/rand"
	"fmt"
)

const (
	payloadPool  = 4 << 20 // bytes of random data shared by all streams
	payloadBlock = 8 << 10 // bytes taken from one pool offset
)

type payload struct {
	pool []byte
}

func newPayload() *payload {
	p := &payload{pool: make([]byte, payloadPool)}
	if _, err := rand.Read(p.pool); err != nil {
		panic(fmt.Sprintf("sfpeer: no randomness for the test data: %v", err))
	}
	return p
}

// mix64 is a 64-bit finalizer (xor-shift-multiply): every input bit affects every output bit.
func mix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// run returns the longest piece of stream s that starts at offset off, stays inside one block
// and is at most max bytes long (it aliases the pool: callers must not modify it).
func (p *payload) run(s uint64, off int64, max int) []byte {
	block := uint64(off / payloadBlock)
	inBlock := int(off % payloadBlock)
	start := int(mix64(s*0x9e3779b97f4a7c15^block) % uint64(payloadPool-payloadBlock))
	n := payloadBlock - inBlock
	if n > max {
		n = max
	}
	return p.pool[start+inBlock : start+inBlock+n]
}

// fill copies the bytes of stream s from offset off into dst.
func (p *payload) fill(dst []byte, s uint64, off int64) {
	for done := 0; done < len(dst); {
		done += copy(dst[done:], p.run(s, off+int64(done), len(dst)-done))
	}
}

// mismatch compares got with the bytes of stream s from offset off and returns the index in
// got of the first byte that differs, or -1 if all match.
func (p *payload) mismatch(got []byte, s uint64, off int64) int {
	for done := 0; done < len(got); {
		want := p.run(s, off+int64(done), len(got)-done)
		if !bytes.Equal(want, got[done:done+len(want)]) {
			for i, b := range want {
				if got[done+i] != b {
					return done + i
				}
			}
		}
		done += len(want)
	}
	return -1
}
