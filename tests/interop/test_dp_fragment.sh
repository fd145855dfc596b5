# labels: dataplane
# timeout: 240
#
# The WebSocket payload is one byte stream (docs/net-http-ws.md "WebSocket", docs/turbotunnel.md
# "Worked example"): the client cuts it into
# messages at random places (token, ClientID and packets straddle message boundaries), puts
# 37 bytes of encapsulation padding before every packet and sends text frames, not binary.
# 3 sessions × 2 streams × 5 MB (× SF_TEST_SCALE), every byte verified.
. "$(dirname "$0")/lib.sh"

dp_setup fragment
dp_start_echo
dp_start_server
bytes=$(dp_scale 5000000)
dp_client fragment --sessions 3 --streams 2 --bytes "$bytes" --fragment --pad 37 --text
dp_expect_client_ok 3 2 "$bytes"
dp_stop_server
dp_pass
