/* One smux server session fed the client's byte stream (src/smux/), as the shard drives it: the
 * clock advances, the keepalive timer fires when due, and the application consumes, writes,
 * closes streams and gives back the bytes of closed ones between pieces of input.
 * Input: records of [op][dt][len lo][len hi][len bytes of stream]:
 *   dt: tenths of a second the clock advances before the bytes (timers run when due);
 *   op bit 0: consume everything delivered; bit 1: write (op >> 4) * 1000 bytes on every stream;
 *   bit 2: close stream slot dt % SLOTS; bit 3: release what closed streams held. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "smux/smux.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SLOTS 16

struct slot {
	struct sf_smux_stream *st; /* NULL: free */
	size_t held;               /* delivered, not consumed */
	int fin;
};

struct app {
	struct slot slots[SLOTS];
	size_t closed_held;        /* held by streams we closed, not released yet */
	unsigned sum;
};

static struct app *the_app; /* for the stream callbacks, which get only the slot */

static void output(void *user, const uint8_t *frame, size_t len)
{
	struct app *a = user;
	if (len < 8 || len > 8 + SF_SMUX_MAX_FRAME)
		__builtin_trap();
	for (size_t i = 0; i < len; i++)
		a->sum += frame[i];
}

static void *stream_open(void *user, struct sf_smux_stream *st)
{
	struct app *a = user;
	for (int i = 0; i < SLOTS; i++) {
		if (!a->slots[i].st) {
			a->slots[i] = (struct slot){.st = st};
			return &a->slots[i];
		}
	}
	return NULL; /* refused: answered with FIN */
}

static void stream_data(void *user, const uint8_t *p, size_t n)
{
	struct slot *sl = user;
	if (!sl->st || n == 0 || sl->fin)
		__builtin_trap();
	for (size_t i = 0; i < n; i++)
		the_app->sum += p[i];
	sl->held += n;
}

static void stream_fin(void *user)
{
	struct slot *sl = user;
	if (!sl->st || sl->fin)
		__builtin_trap();
	sl->fin = 1;
}

static void stream_writable(void *user)
{
	struct slot *sl = user;
	if (!sl->st)
		__builtin_trap();
}

static const struct sf_smux_callbacks callbacks = {
	.output = output,
	.stream_open = stream_open,
	.stream_data = stream_data,
	.stream_fin = stream_fin,
	.stream_writable = stream_writable,
};

static size_t held_total(const struct app *a)
{
	size_t n = a->closed_held;
	for (int i = 0; i < SLOTS; i++)
		if (a->slots[i].st)
			n += a->slots[i].held;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t payload[15 * 1000];
	struct app app = {0};
	the_app = &app;
	uint64_t now = 1000;
	struct sf_smux_session *s = sf_smux_session_new(&callbacks, &app, now);
	if (!s)
		return 0;
	size_t off = 0;
	int dead = 0;
	while (size - off >= 4 && !dead) {
		uint8_t op = data[off], dt = data[off + 1];
		size_t len = (size_t)data[off + 2] | (size_t)data[off + 3] << 8;
		off += 4;
		if (len > size - off)
			len = size - off;
		now += (uint64_t)dt * 100;
		if (sf_smux_next_due(s, now) <= 0 && sf_smux_tick(s, now) < 0)
			dead = 1;
		if (!dead && sf_smux_input(s, data + off, len, now) < 0)
			dead = 1;
		off += len;
		if (sf_smux_unconsumed(s) != held_total(&app))
			__builtin_trap();
		for (int i = 0; i < SLOTS && !dead; i++) {
			struct slot *sl = &app.slots[i];
			if (!sl->st)
				continue;
			if (op & 1) {
				sf_smux_stream_consumed(sl->st, sl->held);
				sl->held = 0;
			}
			if (op & 2) {
				size_t want = (size_t)(op >> 4) * 1000;
				size_t room = sf_smux_stream_write_room(sl->st);
				size_t put = sf_smux_stream_write(sl->st, payload, want);
				if (put > want || (put < want && put != room))
					__builtin_trap();
			}
		}
		struct slot *victim = &app.slots[dt % SLOTS];
		if ((op & 4) && victim->st) {
			sf_smux_stream_close(victim->st);
			app.closed_held += victim->held;
			*victim = (struct slot){0};
		}
		if (op & 8) {
			sf_smux_release(s, app.closed_held);
			app.closed_held = 0;
		}
		if (sf_smux_unconsumed(s) != held_total(&app))
			__builtin_trap();
		size_t open = 0;
		for (int i = 0; i < SLOTS; i++)
			open += app.slots[i].st != NULL;
		if (sf_smux_stream_count(s) != open)
			__builtin_trap();
	}
	sf_smux_session_free(s);
	the_app = NULL;
	return 0;
}
