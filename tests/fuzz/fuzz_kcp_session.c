/* One KCP session fed a sequence of client packets (src/kcp/), as the shard drives it: input,
 * then flush at the session's clock, which advances between packets; the application reads what
 * arrived and writes back. Budgets are small so that the drop paths run too.
 * Input: records of [op][dt][len lo][len hi][len bytes of packet]:
 *   dt: milliseconds the clock advances before the packet (x 8 when op bit 2 is set);
 *   op bit 0: read everything readable after the packet; bit 1: write (op >> 3) * 97 bytes;
 *   bit 7: no flush after this packet (packets of one read event share a flush).
 * The session's conv is 0x11223344 (tests/vectors/kcp.json). */
#include <stddef.h>
#include <stdint.h>

#include "kcp/kcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define CONV 0x11223344u

static void out(const uint8_t *pkt, size_t len, void *user)
{
	unsigned *sum = user;
	if (len > SF_KCP_MTU)
		__builtin_trap();
	for (size_t i = 0; i < len; i++)
		*sum += pkt[i];
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	sf_kcp_set_thread_rx_budget(4u << 20);
	sf_kcp_set_session_rx_share(256u << 10);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[64 * 1024];
	unsigned sum = 0;
	/* The clock starts near the u32 wrap now and then: kcp time is modular. */
	uint32_t now = size > 0 && (data[0] & 0x40) ? 0xfffff000u : 1000u;
	struct sf_kcp *k = sf_kcp_new(CONV, out, &sum);
	if (!k)
		return 0;
	size_t off = 0;
	while (size - off >= 4) {
		uint8_t op = data[off];
		uint32_t dt = data[off + 1] * (op & 4 ? 8u : 1u);
		size_t len = (size_t)data[off + 2] | (size_t)data[off + 3] << 8;
		off += 4;
		if (len > size - off)
			len = size - off;
		now += dt;
		(void)sf_kcp_input(k, data + off, len, now);
		off += len;
		if (op & 1) {
			size_t readable = sf_kcp_readable(k);
			size_t got = sf_kcp_recv(k, buf, sizeof buf);
			if (got > readable || (readable > 0 && got == 0))
				__builtin_trap();
		}
		if ((op & 2) && sf_kcp_send_room(k) > 0) {
			size_t n = (size_t)(op >> 3) * 97;
			if (sf_kcp_send(k, buf, n > sizeof buf ? sizeof buf : n) != 0)
				__builtin_trap();
		}
		if (!(op & 0x80))
			sf_kcp_flush(k, now);
		int32_t due = sf_kcp_next_due(k, now);
		if (due < -1)
			__builtin_trap();
		(void)sf_kcp_flush_wanted(k);
		(void)sf_kcp_rx_stalled_ms(k, now);
	}
	/* The timer the shard would arm, a few times: retransmissions and window probes. */
	for (int i = 0; i < 4; i++) {
		int32_t due = sf_kcp_next_due(k, now);
		if (due < 0)
			break;
		now += (uint32_t)due;
		sf_kcp_flush(k, now);
	}
	sf_kcp_free(k);
	/* Every byte the session accounted on the thread must be given back. */
	if (sf_kcp_thread_seg_bytes() != 0)
		__builtin_trap();
	sf_kcp_thread_cache_free();
	return 0;
}
