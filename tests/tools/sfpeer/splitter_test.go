package main

import (
	"bytes"
	"testing"
)

// The messages plus what is held back are exactly the bytes fed, in order, and the cuts fall
// inside packets as well as between them.
func TestSplitterKeepsTheStreamAndCutsAnywhere(t *testing.T) {
	s := newSplitter(1)
	var fed, sent []byte
	boundaries := map[int]bool{} // stream offsets where a packet ends
	cuts := map[int]bool{}       // stream offsets where a message ends
	messages, multiPieceFeeds := 0, 0
	for i := 0; i < 500; i++ {
		packet := bytes.Repeat([]byte{byte(i)}, 1+(i*53)%300)
		fed = append(fed, packet...)
		boundaries[len(fed)] = true
		msgs := s.feed(packet)
		if len(msgs) > 1 {
			multiPieceFeeds++
		}
		for _, m := range msgs {
			if len(m) == 0 {
				t.Fatal("empty message")
			}
			sent = append(sent, m...)
			cuts[len(sent)] = true
			messages++
		}
		if len(s.held) > maxHeldBack {
			t.Fatalf("holds %d bytes, at most %d allowed", len(s.held), maxHeldBack)
		}
	}
	if rest := s.drain(); rest != nil {
		sent = append(sent, rest...)
	}
	if s.drain() != nil {
		t.Fatal("drain twice returned bytes twice")
	}
	if !bytes.Equal(sent, fed) {
		t.Fatal("the messages do not add up to the bytes fed")
	}
	inside, between := 0, 0
	for c := range cuts {
		if boundaries[c] {
			between++
		} else {
			inside++
		}
	}
	if inside < 100 || multiPieceFeeds < 100 {
		t.Fatalf("too regular: %d cuts inside packets, %d between, %d feeds cut in pieces (of %d messages)",
			inside, between, multiPieceFeeds, messages)
	}
}

// A message returned by feed must not change when the splitter is used again.
func TestSplitterMessagesAreCopies(t *testing.T) {
	s := newSplitter(2)
	msgs := s.feed([]byte("abcdefghijklmnopqrstuvwxyz"))
	var before [][]byte
	for _, m := range msgs {
		before = append(before, append([]byte(nil), m...))
	}
	s.feed(bytes.Repeat([]byte{'#'}, 1000))
	for i := range msgs {
		if !bytes.Equal(msgs[i], before[i]) {
			t.Fatal("a returned message changed after the next feed")
		}
	}
}
