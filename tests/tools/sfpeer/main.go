// sfpeer plays the parties around a Snowflake server in this project's tests and benchmarks:
// a turbotunnel client configured like the real Snowflake client (load generator and byte-exact
// verifier), a stand-in for tor's ORPort (echo) and one for tor's Extended ORPort (extor).
// Everything it talks to is on loopback. See README.md next to this file.
package main

import (
	"fmt"
	"os"
)

const usage = `usage: sfpeer COMMAND [options]   ("sfpeer COMMAND -h" lists a command's options)

  client --url ws://HOST:PORT/ [options]
         turbotunnel sessions (WebSocket, KCP, smux) running a bulk, ping or idle workload
         through the server to an echoing ORPort; every echoed byte is checked.
  echo   --listen ADDR [--sink] [--lifetime D]
         tor's ORPort stand-in: echoes each TCP connection (--sink: counts and discards).
  extor  --listen ADDR --cookie FILE [--sink] [--deny] [--bad-auth] [--lifetime D]
         tor's Extended ORPort stand-in: writes a fresh auth cookie to FILE, runs SAFE_COOKIE
         authentication and USERADDR/TRANSPORT/DONE, reports each connection as a JSON line,
         then echoes.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	commands := map[string]func([]string) int{
		"client": clientCommand,
		"echo":   echoCommand,
		"extor":  extorCommand,
	}
	name := os.Args[1]
	if run, ok := commands[name]; ok {
		os.Exit(run(os.Args[2:]))
	}
	if name == "-h" || name == "--help" || name == "help" {
		fmt.Print(usage)
		os.Exit(0)
	}
	fmt.Fprintf(os.Stderr, "sfpeer: no command %q\n%s", name, usage)
	os.Exit(2)
}
