package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"git.torproject.org/pluggable-transports/snowflake.git/v2/common/encapsulation"
	"git.torproject.org/pluggable-transports/snowflake.git/v2/common/turbotunnel"
	"github.com/gorilla/websocket"
)

// Whatever the framing options, a server reading the messages as one byte stream gets the
// token, the ClientID and then exactly the packets sent.
func TestWSLinkFramingReachesTheServerIntact(t *testing.T) {
	for _, how := range []framing{
		{messageType: websocket.BinaryMessage},
		{messageType: websocket.TextMessage, pad: 37},
		{messageType: websocket.BinaryMessage, fragment: true},
		{messageType: websocket.TextMessage, pad: 1500, fragment: true},
	} {
		t.Run(fmt.Sprintf("%+v", how), func(t *testing.T) {
			const packets = 300
			type arrival struct {
				token, id []byte
				packets   [][]byte
				messages  int
			}
			arrived := make(chan arrival, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				ws, err := (&websocket.Upgrader{}).Upgrade(w, req, nil)
				if err != nil {
					return
				}
				defer ws.Close()
				stats := &wireStats{}
				in := bufio.NewReader(&messageReader{ws: ws, stats: stats})
				var a arrival
				a.token, a.id = make([]byte, 8), make([]byte, 8)
				io.ReadFull(in, a.token)
				io.ReadFull(in, a.id)
				for len(a.packets) < packets {
					p, err := encapsulation.ReadData(in)
					if err != nil {
						break
					}
					a.packets = append(a.packets, p)
				}
				a.messages = int(stats.msgsIn)
				arrived <- a
			}))
			defer srv.Close()
			ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
			if err != nil {
				t.Fatal(err)
			}
			id := turbotunnel.NewClientID()
			stats := &wireStats{}
			link, err := newWSLink(ws, how, stats, turbotunnel.Token[:], id[:])
			if err != nil {
				t.Fatal(err)
			}
			defer link.Close()
			data := newPayload()
			var sent [][]byte
			for i := 0; i < packets; i++ {
				p := make([]byte, 1+(i*41)%1400)
				data.fill(p, uint64(i), 0)
				sent = append(sent, p)
				if n, err := link.WriteTo(p, nil); err != nil || n != len(p) {
					t.Fatalf("WriteTo: %d, %v", n, err)
				}
			}
			var a arrival
			select {
			case a = <-arrived:
			case <-time.After(10 * time.Second):
				t.Fatal("the server did not get all packets within 10 s")
			}
			if !bytes.Equal(a.token, turbotunnel.Token[:]) || !bytes.Equal(a.id, id[:]) {
				t.Fatalf("preamble %x %x", a.token, a.id)
			}
			if len(a.packets) != packets {
				t.Fatalf("%d packets arrived, %d sent", len(a.packets), packets)
			}
			for i := range sent {
				if !bytes.Equal(a.packets[i], sent[i]) {
					t.Fatalf("packet %d differs", i)
				}
			}
			if stats.pktsOut != packets {
				t.Fatalf("pkts_out %d", stats.pktsOut)
			}
			// Without --fragment: token, ClientID, then one message per packet.
			if !how.fragment && a.messages != packets+2 {
				t.Fatalf("%d messages for %d packets", a.messages, packets)
			}
		})
	}
}
