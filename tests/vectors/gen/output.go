package main

// What every file shares: the info header, hex strings, the indented JSON writer.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// Library versions as Debian packages them; README.md repeats them.
var libraryVersions = map[string]string{
	"snowflake": "git.torproject.org/pluggable-transports/snowflake.git/v2 common/encapsulation (Debian golang-snowflake-dev 2.5.1-1)",
	"goptlib":   "git.torproject.org/pluggable-transports/goptlib.git (Debian golang-goptlib-dev 1.2.0-1)",
	"smux":      "github.com/xtaci/smux (Debian golang-github-xtaci-smux-dev 1.5.16+ds-1)",
	"kcp":       "github.com/xtaci/kcp-go/v5 (Debian golang-github-xtaci-kcp-dev 5.6.1-2)",
}

type info struct {
	Generator string            `json:"generator"`
	Go        string            `json:"go"`
	Libraries map[string]string `json:"libraries"`
	// The only field that differs between two runs of a deterministic part.
	GeneratedUTC string `json:"generated_utc"`
}

func newInfo(libs ...string) info {
	m := map[string]string{}
	for _, l := range libs {
		m[l] = libraryVersions[l]
	}
	return info{
		Generator:    "tests/vectors/gen (regenerate with tests/vectors/gen/gen.sh)",
		Go:           runtime.Version(),
		Libraries:    m,
		GeneratedUTC: time.Now().UTC().Format(time.RFC3339),
	}
}

// hexBytes is a byte string that marshals as lowercase hex without separators.
type hexBytes []byte

func (h hexBytes) MarshalJSON() ([]byte, error) { return json.Marshal(hex.EncodeToString(h)) }

func sha256Hex(b []byte) string {
	d := sha256.Sum256(b)
	return hex.EncodeToString(d[:])
}

// countingBytes returns n bytes with byte i = (start + i) mod 256.
func countingBytes(n int, start byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

// writeFile writes v as indented JSON to dir/name, through a temporary file so that a reader
// never sees half a file.
func writeFile(dir, name string, v interface{}) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path+".tmp", buf.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "sfvectors: wrote %s (%d bytes)\n", path, buf.Len())
	return nil
}
