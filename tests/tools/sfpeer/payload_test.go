package main

import (
	"bytes"
	"testing"
)

func TestPayloadIsDeterministicPerStreamAndOffset(t *testing.T) {
	p := newPayload()
	a := make([]byte, 3*payloadBlock+123)
	b := make([]byte, len(a))
	p.fill(a, 7, 1000)
	p.fill(b, 7, 1000)
	if !bytes.Equal(a, b) {
		t.Fatal("the same stream and offset gave different bytes")
	}
	// Pieces filled at their own offsets join into the same bytes.
	c := make([]byte, len(a))
	for off := 0; off < len(c); off += 999 {
		end := off + 999
		if end > len(c) {
			end = len(c)
		}
		p.fill(c[off:end], 7, 1000+int64(off))
	}
	if !bytes.Equal(a, c) {
		t.Fatal("filling in pieces differs from filling at once")
	}
	other := make([]byte, len(a))
	p.fill(other, 8, 1000)
	if bytes.Equal(a, other) {
		t.Fatal("two streams carry the same bytes")
	}
}

func TestPayloadBlocksDiffer(t *testing.T) {
	p := newPayload()
	first := make([]byte, payloadBlock)
	second := make([]byte, payloadBlock)
	p.fill(first, 1, 0)
	p.fill(second, 1, payloadBlock)
	if bytes.Equal(first, second) {
		t.Fatal("consecutive blocks of a stream are equal: a repeated block would go unnoticed")
	}
}

func TestPayloadMismatchFindsTheFirstWrongByte(t *testing.T) {
	p := newPayload()
	const off = 5*payloadBlock - 17
	data := make([]byte, 2*payloadBlock)
	p.fill(data, 42, off)
	if at := p.mismatch(data, 42, off); at != -1 {
		t.Fatalf("intact data reported wrong at %d", at)
	}
	for _, bad := range []int{0, 16, 17, payloadBlock + 3, len(data) - 1} {
		broken := append([]byte(nil), data...)
		broken[bad] ^= 0x01
		if at := p.mismatch(broken, 42, off); at != bad {
			t.Errorf("flipped byte %d, mismatch reported at %d", bad, at)
		}
	}
	if p.mismatch(data, 42, off+1) == -1 {
		t.Error("data shifted by one byte passed")
	}
	if p.mismatch(data, 43, off) == -1 {
		t.Error("another stream's bytes passed")
	}
}
