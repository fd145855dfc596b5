/* Replays the real client's byte stream of smux.json `exchange` into a server session, split in
 * every way, with an echo application like the reference server (io.Copy via Stream.WriteTo:
 * write the payload back, then consume it). The server output must match what the real server
 * sent, frame for frame within each stream id (the interleaving of streams is scheduling). */
#include "smux_harness.h"

struct vec {
	uint8_t *c2s;
	size_t c2s_len;
	size_t nop_offset;      /* where the client's keepalive NOP starts */
	uint8_t *s2c;
	size_t s2c_len;
	size_t expect[8];       /* PSH payload bytes per stream id (ids < 8 here) */
};

static struct vec V;

static int setup(void **state)
{
	(void)state;
	json_t *root = h_load_vectors();
	json_t *ex = json_object_get(root, "exchange");
	json_t *c2s = json_object_get(ex, "client_to_server");
	json_t *s2c = json_object_get(ex, "server_to_client");
	V.c2s = h_unhex(h_str(c2s, "stream_hex"), &V.c2s_len);
	V.s2c = h_unhex(h_str(s2c, "stream_hex"), &V.s2c_len);
	size_t i;
	json_t *f;
	json_array_foreach(json_object_get(c2s, "frames"), i, f) {
		if (strcmp(h_str(f, "cmd"), "NOP") == 0)
			V.nop_offset = (size_t)h_int(f, "offset");
		if (strcmp(h_str(f, "cmd"), "PSH") == 0) {
			long long sid = h_int(f, "sid");
			assert_true(sid >= 0 && sid < 8);
			V.expect[sid] += (size_t)h_int(f, "len");
		}
	}
	assert_int_equal(V.nop_offset, V.c2s_len - SF_SMUX_HDR_LEN);
	assert_int_equal(V.expect[3], 3000);
	assert_int_equal(V.expect[5], 2000);
	json_decref(root);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(V.c2s);
	free(V.s2c);
	return 0;
}

/* The echo: once the whole payload of the stream arrived (one PSH frame in this capture, which
 * is what WriteTo hands over at once), write it back and consume it. */
static void echo_on_data(struct h_app *app, struct h_stream *hs, size_t n)
{
	(void)app;
	(void)n;
	assert_true(hs->id < 8);
	if (hs->len != V.expect[hs->id])
		return;
	assert_int_equal(sf_smux_stream_write_room(hs->st), SF_SMUX_INITIAL_PEER_WINDOW);
	assert_int_equal(sf_smux_stream_write(hs->st, hs->data, hs->len), hs->len);
	sf_smux_stream_consumed(hs->st, hs->len);
}

/* A frame list of one stream id, out of a byte stream of frames. */
struct flist {
	const uint8_t *f[16];
	size_t len[16];
	size_t n;
};

static void split_frames(const uint8_t *b, size_t n, uint32_t sid, struct flist *out)
{
	out->n = 0;
	size_t off = 0;
	while (off < n) {
		assert_true(n - off >= SF_SMUX_HDR_LEN);
		struct sf_smux_hdr h;
		sf_smux_hdr_decode(b + off, &h);
		size_t flen = SF_SMUX_HDR_LEN + h.len;
		assert_true(off + flen <= n);
		if (h.sid == sid) {
			assert_true(out->n < 16);
			out->f[out->n] = b + off;
			out->len[out->n++] = flen;
		}
		off += flen;
	}
}

static void check_outcome(struct h_app *app)
{
	assert_int_equal(app->opens, 2);
	assert_int_equal(app->nstreams, 2);
	assert_int_equal(app->streams[0].id, 3);
	assert_int_equal(app->streams[1].id, 5);
	struct h_stream *s3 = &app->streams[0], *s5 = &app->streams[1];

	assert_int_equal(s3->len, 3000);
	assert_int_equal(s5->len, 2000);
	for (size_t i = 0; i < 3000; i++)
		assert_int_equal(s3->data[i], (uint8_t)(0x30 + i));
	for (size_t i = 0; i < 2000; i++)
		assert_int_equal(s5->data[i], (uint8_t)(0x50 + i));

	/* stream 3: FIN received and answered (closed); stream 5 stays open */
	assert_int_equal(s3->fins, 1);
	assert_null(s3->st);
	assert_int_equal(s5->fins, 0);
	assert_non_null(s5->st);
	assert_int_equal(sf_smux_stream_count(app->sess), 1);
	assert_int_equal(sf_smux_unconsumed(app->sess), 0);
	assert_int_equal(s3->writables + s5->writables, 0);

	/* our output, concatenated, against the real server's, per stream id */
	assert_int_equal(app->frame_bytes, V.s2c_len);
	uint8_t *ours = malloc(app->frame_bytes);
	assert_non_null(ours);
	size_t off = 0;
	for (size_t i = 0; i < app->nframes; i++) {
		memcpy(ours + off, app->frames[i].bytes, app->frames[i].len);
		off += app->frames[i].len;
	}
	static const uint32_t sids[] = { 0, 3, 5 };
	for (size_t k = 0; k < 3; k++) {
		struct flist a, b;
		split_frames(ours, off, sids[k], &a);
		split_frames(V.s2c, V.s2c_len, sids[k], &b);
		assert_int_equal(a.n, b.n);
		assert_true(a.n > 0);
		for (size_t i = 0; i < a.n; i++) {
			assert_int_equal(a.len[i], b.len[i]);
			assert_memory_equal(a.f[i], b.f[i], a.len[i]);
		}
	}
	/* the NOP came last, as in the capture */
	h_assert_frame(&app->frames[app->nframes - 1], SF_SMUX_NOP, 0, 0);
	free(ours);
}

/* Feeds c2s[from, to) in pieces whose sizes come from next_piece. */
static void feed_range(struct h_app *app, size_t from, size_t to, size_t (*next_piece)(void *),
		       void *ctx, uint64_t now)
{
	size_t off = from;
	while (off < to) {
		size_t n = next_piece(ctx);
		if (n == 0 || n > to - off)
			n = to - off;
		assert_int_equal(sf_smux_input(app->sess, V.c2s + off, n, now), 0);
		off += n;
	}
}

/* One replay: the traffic before the client's NOP at t=0, the server keepalive at 10 s, then
 * the client NOP. */
static void replay(size_t (*next_piece)(void *), void *ctx)
{
	struct h_app app;
	h_app_init(&app, 0);
	app.close_on_fin = true;
	app.on_data = echo_on_data;
	feed_range(&app, 0, V.nop_offset, next_piece, ctx, 0);
	assert_int_equal(sf_smux_tick(app.sess, 9999), 0);
	assert_int_equal(sf_smux_tick(app.sess, 10000), 0);
	feed_range(&app, V.nop_offset, V.c2s_len, next_piece, ctx, 10004);
	check_outcome(&app);
	h_app_free(&app);
}

static size_t piece_all(void *ctx)
{
	(void)ctx;
	return 0;
}

static size_t piece_one(void *ctx)
{
	(void)ctx;
	return 1;
}

/* First piece of a given size, then the rest at once. */
struct cut {
	size_t first;
	bool used;
};

static size_t piece_cut(void *ctx)
{
	struct cut *c = ctx;
	if (c->used)
		return 0;
	c->used = true;
	return c->first;
}

static size_t piece_random(void *ctx)
{
	uint32_t *seed = ctx;
	*seed = *seed * 1103515245u + 12345u;
	uint32_t r = (*seed >> 16) & 0x7fff;
	/* mostly small pieces, sometimes large ones */
	return (r & 1) ? 1 + r % 17 : 1 + r % 4000;
}

static void test_whole(void **state)
{
	(void)state;
	replay(piece_all, NULL);
}

static void test_byte_by_byte(void **state)
{
	(void)state;
	replay(piece_one, NULL);
}

static void test_every_cut(void **state)
{
	(void)state;
	for (size_t k = 1; k < V.nop_offset; k++) {
		struct cut c = { .first = k, .used = false };
		replay(piece_cut, &c);
	}
}

static void test_random_pieces(void **state)
{
	(void)state;
	uint32_t seed = 20251105;
	for (int run = 0; run < 300; run++)
		replay(piece_random, &seed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_every_cut),
		cmocka_unit_test(test_random_pieces),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
