# labels: dataplane
# timeout: 300
#
# Many sessions at once: 200 turbotunnel sessions × 2 smux streams × 200 kB (× SF_TEST_SCALE),
# started over 2 s, each stream echoed by sfpeer echo and verified (400 ORPort connections).
. "$(dirname "$0")/lib.sh"

dp_setup multi
dp_start_echo
dp_start_server
bytes=$(dp_scale 200000)
dp_client multi --sessions 200 --streams 2 --bytes "$bytes" --ramp 2s
dp_expect_client_ok 200 2 "$bytes"
dp_stop_server
dp_pass
