package main

// --fragment: the WebSocket messages a Snowflake proxy forwards need not line up with the
// encapsulated packets inside them; a server must read the messages as one byte stream. The
// splitter produces the awkward cases on purpose: every packet handed to it is appended to the
// bytes still held back, then all but a random tail of that is sent as one to three messages
// cut at random places. A message can thus end inside a packet and the next one can carry the
// end of one packet and the start of the following one.

import "math/rand"

const maxHeldBack = 99 // bytes the splitter keeps for the next message, at most

type splitter struct {
	rng  *rand.Rand
	held []byte
}

func newSplitter(seed int64) *splitter {
	return &splitter{rng: rand.New(rand.NewSource(seed))}
}

// feed takes the next bytes of the stream and returns the messages to send now. The messages
// are fresh slices; their concatenation, followed by what is still held, is everything fed.
func (s *splitter) feed(b []byte) [][]byte {
	s.held = append(s.held, b...)
	keep := 0
	if len(s.held) > 1 {
		limit := len(s.held) - 1 // always send at least one byte
		if limit > maxHeldBack {
			limit = maxHeldBack
		}
		keep = s.rng.Intn(limit + 1)
	}
	out := append([]byte(nil), s.held[:len(s.held)-keep]...)
	s.held = append(s.held[:0], s.held[len(s.held)-keep:]...)

	var msgs [][]byte
	for pieces := 1 + s.rng.Intn(3); pieces > 1 && len(out) > 1; pieces-- {
		cut := 1 + s.rng.Intn(len(out)-1)
		msgs = append(msgs, out[:cut])
		out = out[cut:]
	}
	if len(out) > 0 {
		msgs = append(msgs, out)
	}
	return msgs
}

// drain returns the bytes held back (nil if none) and forgets them.
func (s *splitter) drain() []byte {
	if len(s.held) == 0 {
		return nil
	}
	out := append([]byte(nil), s.held...)
	s.held = s.held[:0]
	return out
}
