# labels: dataplane
# timeout: 300
#
# Bulk echo: one session, one stream, 100 MB (× SF_TEST_SCALE) through the server to sfpeer echo
# (the ORPort) and back, every byte verified by sfpeer client.
. "$(dirname "$0")/lib.sh"

dp_setup bulk
dp_start_echo
dp_start_server
bytes=$(dp_scale 100000000)
dp_client bulk --bytes "$bytes"
dp_expect_client_ok 1 1 "$bytes"
dp_stop_server
dp_pass
