/* WebSocket frames from the client (src/ws/ws.c over wslay), split at fuzzed points; the server
 * sends a Binary message between segments, as the shard does while reading.
 * Input: one byte giving the segment size (1..256), then the frame bytes. */
#include <stddef.h>
#include <stdint.h>

#include "ws/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct sink {
	unsigned sum;
	size_t data_bytes;
	int closes;
};

static void on_data(void *user, const uint8_t *p, size_t n)
{
	struct sink *s = user;
	if (n == 0) /* the API promises payload bytes */
		__builtin_trap();
	for (size_t i = 0; i < n; i++)
		s->sum += p[i];
	s->data_bytes += n;
}

static void on_output(void *user, const uint8_t *p, size_t n)
{
	struct sink *s = user;
	for (size_t i = 0; i < n; i++)
		s->sum += p[i];
}

static void on_close(void *user, uint16_t code)
{
	struct sink *s = user;
	s->closes++;
	s->sum += code;
}

static const struct sf_ws_callbacks callbacks = {
	.on_data = on_data,
	.on_output = on_output,
	.on_close = on_close,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t seg = (size_t)data[0] + 1;
	data++;
	size--;
	struct sink sink = {0};
	struct sf_ws *ws = sf_ws_new(&callbacks, &sink);
	if (!ws)
		return 0;
	for (size_t off = 0; off < size; off += seg) {
		size_t n = size - off < seg ? size - off : seg;
		int rc = sf_ws_feed(ws, data + off, n);
		if (rc != 0 && !sf_ws_close_sent(ws)) /* an error always answers with a Close */
			__builtin_trap();
		if (sink.data_bytes > size) /* payload cannot outgrow the input */
			__builtin_trap();
		if (!sf_ws_close_sent(ws))
			(void)sf_ws_send_binary(ws, data + off, n);
	}
	if (sink.closes > 1)
		__builtin_trap();
	sf_ws_close(ws);
	sf_ws_free(ws);
	return 0;
}
