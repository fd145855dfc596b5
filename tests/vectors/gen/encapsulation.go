package main

// encapsulation.json: what snowflake's common/encapsulation writes (WriteData, WritePadding) and
// what its ReadData makes of hand-written inputs. Deterministic.

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"

	"git.torproject.org/pluggable-transports/snowflake.git/v2/common/encapsulation"
)

// Encodings up to this size are given whole; longer ones by length and SHA-256 only.
const wholeEncodingMax = 600

// The reference server reads each record into a 2048-byte buffer, then hands at most one
// 1400-byte MTU to KCP.
const (
	serverReadBuffer = 2048
	serverMTU        = 1400
)

type encodeDataCase struct {
	Length        int       `json:"length"`
	Payload       string    `json:"payload"`
	PrefixHex     hexBytes  `json:"prefix_hex,omitempty"`
	EncodedLen    int       `json:"encoded_len,omitempty"`
	BytesHex      *hexBytes `json:"bytes_hex,omitempty"`
	EncodedSHA256 string    `json:"encoded_sha256,omitempty"`
	Error         string    `json:"error,omitempty"`
}

type paddingChunk struct {
	PrefixHex  hexBytes `json:"prefix_hex"`
	PaddingLen int      `json:"padding_len"`
}

type encodePaddingCase struct {
	Size          int            `json:"size"`
	Chunks        []paddingChunk `json:"chunks"`
	BytesHex      *hexBytes      `json:"bytes_hex,omitempty"`
	EncodedSHA256 string         `json:"encoded_sha256"`
}

type decodeCase struct {
	Name             string     `json:"name"`
	InputHex         hexBytes   `json:"input_hex"`
	RecordsHex       []hexBytes `json:"records_hex"`
	RecordLens       []int      `json:"record_lens"`
	End              string     `json:"end"`
	ConsumedAtEnd    int        `json:"input_bytes_consumed_at_end"`
	ServerPacketLens []int      `json:"server_packet_lens"`
	Note             string     `json:"note,omitempty"`
}

type upstreamExample struct {
	Note        string     `json:"note"`
	StreamHex   hexBytes   `json:"stream_hex"`
	TokenHex    hexBytes   `json:"token_hex"`
	ClientIDHex hexBytes   `json:"client_id_hex"`
	RecordsHex  []hexBytes `json:"records_hex"`
}

type encapsulationFile struct {
	Info        info                `json:"info"`
	Description string              `json:"description"`
	EncodeData  []encodeDataCase    `json:"encode_data"`
	EncodePad   []encodePaddingCase `json:"encode_padding"`
	Decode      []decodeCase        `json:"decode"`
	Upstream    upstreamExample     `json:"turbotunnel_upstream_example"`
}

func wholeIfShort(b []byte) *hexBytes {
	if len(b) > wholeEncodingMax {
		return nil
	}
	h := hexBytes(b)
	return &h
}

func encodeData(n int) (encodeDataCase, error) {
	c := encodeDataCase{Length: n, Payload: "byte i = i mod 256"}
	var buf bytes.Buffer
	_, err := encapsulation.WriteData(&buf, countingBytes(n, 0))
	if errors.Is(err, encapsulation.ErrTooLong) {
		c.Error = "too_long"
		return c, nil
	}
	if err != nil {
		return c, err
	}
	enc := buf.Bytes()
	// The prefix is what precedes the n payload bytes.
	c.PrefixHex = enc[:len(enc)-n]
	c.EncodedLen = len(enc)
	c.BytesHex = wholeIfShort(enc)
	c.EncodedSHA256 = sha256Hex(enc)
	return c, nil
}

// chunkRecorder splits WritePadding's output into its (prefix, padding) writes: WritePadding
// writes each chunk's prefix and then its padding bytes as two calls.
type chunkRecorder struct {
	all    bytes.Buffer
	chunks []paddingChunk
	prefix bool // the next write is a prefix
}

func (r *chunkRecorder) Write(p []byte) (int, error) {
	r.all.Write(p)
	r.prefix = !r.prefix
	if r.prefix {
		r.chunks = append(r.chunks, paddingChunk{PrefixHex: append(hexBytes(nil), p...)})
	} else {
		r.chunks[len(r.chunks)-1].PaddingLen = len(p)
	}
	return len(p), nil
}

func encodePadding(n int) (encodePaddingCase, error) {
	r := &chunkRecorder{}
	if _, err := encapsulation.WritePadding(r, n); err != nil {
		return encodePaddingCase{}, err
	}
	c := encodePaddingCase{Size: n, Chunks: r.chunks, EncodedSHA256: sha256Hex(r.all.Bytes())}
	if c.Chunks == nil {
		c.Chunks = []paddingChunk{}
	}
	if n > 0 {
		c.BytesHex = wholeIfShort(r.all.Bytes())
	}
	return c, nil
}

// countingReader counts the bytes ReadData took.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func serverPacketLen(record int) int {
	if record > serverReadBuffer {
		record = serverReadBuffer
	}
	if record > serverMTU {
		record = serverMTU
	}
	return record
}

func decode(name, note string, input []byte) (decodeCase, error) {
	c := decodeCase{Name: name, Note: note, InputHex: input,
		RecordsHex: []hexBytes{}, RecordLens: []int{}, ServerPacketLens: []int{}}
	r := &countingReader{r: bytes.NewReader(input)}
	for {
		rec, err := encapsulation.ReadData(r)
		switch {
		case err == nil:
			c.RecordsHex = append(c.RecordsHex, rec)
			c.RecordLens = append(c.RecordLens, len(rec))
			c.ServerPacketLens = append(c.ServerPacketLens, serverPacketLen(len(rec)))
			continue
		case err == io.EOF:
			c.End = "eof"
		case err == io.ErrUnexpectedEOF:
			c.End = "unexpected_eof"
		case errors.Is(err, encapsulation.ErrTooLong):
			c.End = "too_long"
		default:
			return c, err
		}
		c.ConsumedAtEnd = r.n
		return c, nil
	}
}

func concat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// dataRecord is WriteData's encoding of p.
func dataRecord(p []byte) []byte {
	var buf bytes.Buffer
	if _, err := encapsulation.WriteData(&buf, p); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func writeEncapsulation(dir string) error {
	f := encapsulationFile{
		Info: newInfo("snowflake"),
		Description: "snowflake common/encapsulation: WriteData and WritePadding output, and ReadData applied to " +
			"hand-made inputs until it returns an error. Data payloads: byte i = i mod 256. bytes_hex only " +
			"for encodings of at most 600 bytes. server_packet_lens: each record cut to the reference " +
			"server's 2048-byte read buffer and then its 1400-byte MTU (this Debian ReadData returns whole records).",
	}
	for _, n := range []int{0, 1, 2, 62, 63, 64, 65, 127, 128, 129, 255, 256, 1000, 1399, 1400, 1401,
		2047, 2048, 2049, 8191, 8192, 8193, 16383, 16384, 16385, 65535, 1048575, 1048576} {
		c, err := encodeData(n)
		if err != nil {
			return err
		}
		f.EncodeData = append(f.EncodeData, c)
	}
	for _, n := range []int{0, 1, 2, 3, 64, 65, 66, 67, 128, 129, 130, 131, 1023, 1024, 1025,
		1026, 1027, 2047, 2048, 2049, 2500, 4096} {
		c, err := encodePadding(n)
		if err != nil {
			return err
		}
		f.EncodePad = append(f.EncodePad, c)
	}

	type in struct {
		name, note string
		bytes      []byte
	}
	inputs := []in{
		{"empty input", "ReadData's clean end: EOF before a prefix byte", nil},
		{"one data byte", "", mustHex("81aa")},
		{"empty data record", "a zero-length record is a record; KCP drops it later (shorter than a header)", mustHex("80")},
		{"two records", "", mustHex("8201028103")},
		{"padding before data", "padding content is not looked at", mustHex("03ffeedd8299aa")},
		{"empty padding before data", "", mustHex("008144")},
		{"padding only", "padding then EOF before a prefix byte is a clean end", mustHex("0400000000")},
		{"two-byte prefix", "", dataRecord(countingBytes(200, 0))},
		{"three-byte prefix", "longer than the server's read buffer and MTU", dataRecord(countingBytes(5000, 7))},
		{"non-minimal two-byte prefix", "ReadData accepts prefixes longer than needed", mustHex("c00311223344")},
		{"non-minimal three-byte prefix", "", mustHex("c0800255aa")},
		{"non-minimal padding prefix", "", mustHex("4001ee8177")},
		{"records of 1400 and 1401 bytes", "", concat(dataRecord(countingBytes(1400, 1)), dataRecord(countingBytes(1401, 2)))},
		{"record of 2049 bytes", "the server keeps 2048 bytes, then 1400", dataRecord(countingBytes(2049, 3))},
		{"four-byte data prefix", "ReadData gives up after the third prefix byte still says 'more'", mustHex("c0808001ff")},
		{"four-byte padding prefix", "", mustHex("40c0c000")},
		{"record then four-byte prefix", "the records before the error were returned", mustHex("8133ffffffff")},
		{"prefix cut after one byte", "", mustHex("c1")},
		{"prefix cut after two bytes", "", mustHex("c181")},
		{"data cut short", "", mustHex("840102")},
		{"padding cut short", "", mustHex("0300")},
		{"record then data cut short", "", mustHex("81058210")},
	}
	for _, i := range inputs {
		c, err := decode(i.name, i.note, i.bytes)
		if err != nil {
			return err
		}
		f.Decode = append(f.Decode, c)
	}

	// The upstream stream of a turbotunnel client: 8-byte token, 8-byte ClientID, then
	// encapsulated KCP packets (here two small ones: a PUSH with an smux SYN and one with "hi").
	token := mustHex("1293605d278175f5")
	clientID := countingBytes(8, 0x10)
	recs := []hexBytes{
		kcpPushPacket(0xdeadbeef, 0, []byte{2, 0, 0, 0, 3, 0, 0, 0}),
		kcpPushPacket(0xdeadbeef, 1, []byte{2, 2, 2, 0, 3, 0, 0, 0, 'h', 'i'}),
	}
	stream := concat(token, clientID)
	for _, r := range recs {
		stream = append(stream, dataRecord(r)...)
	}
	f.Upstream = upstreamExample{
		Note:      "token + ClientID + two WriteData records carrying KCP packets; ReadData decodes the records after the first 16 bytes",
		StreamHex: stream, TokenHex: token, ClientIDHex: clientID,
	}
	r := bytes.NewReader(stream[16:])
	for {
		rec, err := encapsulation.ReadData(r)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		f.Upstream.RecordsHex = append(f.Upstream.RecordsHex, rec)
	}
	return writeFile(dir, "encapsulation.json", f)
}

// kcpPushPacket is a KCP packet of one PUSH segment (wnd 65535, ts 0, una 0): little-endian header.
func kcpPushPacket(conv, sn uint32, payload []byte) []byte {
	h := make([]byte, 24)
	binary.LittleEndian.PutUint32(h[0:], conv)
	h[4] = 81
	binary.LittleEndian.PutUint16(h[6:], 0xffff)
	binary.LittleEndian.PutUint32(h[12:], sn)
	binary.LittleEndian.PutUint32(h[20:], uint32(len(payload)))
	return append(h, payload...)
}
