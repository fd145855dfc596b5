package main

// --hold-until: a stream that stays open while the test changes the world around it (stops
// another tor), then proves it still carries a request and its answer: a VERSIONS cell
// (tor-spec "Negotiating versions with VERSIONS cells") and tor's VERSIONS cell back.

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

var hold struct {
	readyFile string // created when the handshake is done
	untilFile string // the hold ends when it exists
}

const (
	cellVersions    = 7
	holdPoll        = 100 * time.Millisecond
	maxVersionsBody = 512 // tor offers a handful of 2-byte versions
)

// holdThenVersions returns tor's link versions, or the stage that failed and why.
func holdThenVersions(tc *tls.Conn, deadline time.Time) ([]int, string, error) {
	f, err := os.Create(hold.readyFile)
	if err != nil {
		return nil, "ready_file", err
	}
	f.Close()
	for {
		if _, err := os.Stat(hold.untilFile); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, "hold", errors.New("--timeout before the --hold-until file appeared")
		}
		time.Sleep(holdPoll)
	}
	// A variable-length cell with a 2-byte circuit ID, as every VERSIONS cell: 0, 7, length,
	// then the link protocol versions we offer.
	cell := []byte{0, 0, cellVersions, 0, 6, 0, 3, 0, 4, 0, 5}
	if _, err := tc.Write(cell); err != nil {
		return nil, "versions_write", err
	}
	var head [5]byte
	if _, err := io.ReadFull(tc, head[:]); err != nil {
		return nil, "versions_read", err
	}
	n := int(binary.BigEndian.Uint16(head[3:]))
	if head[0] != 0 || head[1] != 0 || head[2] != cellVersions || n == 0 || n%2 != 0 || n > maxVersionsBody {
		return nil, "versions_read", fmt.Errorf("not a VERSIONS cell: % x", head)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(tc, body); err != nil {
		return nil, "versions_read", err
	}
	versions := make([]int, 0, n/2)
	common := false
	for i := 0; i < n; i += 2 {
		v := int(binary.BigEndian.Uint16(body[i:]))
		versions = append(versions, v)
		common = common || (v >= 3 && v <= 5)
	}
	if !common {
		return versions, "versions_read", errors.New("no link version in common with 3, 4, 5")
	}
	return versions, "", nil
}
