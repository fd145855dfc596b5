/* The smux.json flow-control run: the client writes 1200000 bytes while the server does not read;
 * only the initial window (262144) arrives; then the server drains frame by frame (WriteTo) and
 * must send exactly the captured UPDs (consumed 32768, 557056, 1081344). Then the sender side:
 * our writes stop at 262144 until the peer's UPD, which fires stream_writable. */
#include "smux_harness.h"

#include <openssl/sha.h>
#include <stdio.h>

#define TOTAL 1200000

static uint8_t payload[TOTAL];  /* byte i = i mod 256, as the generator wrote it */

struct psh {
	size_t off;   /* offset in the 1200000-byte write */
	size_t len;
};

static struct psh pshs[64];
static size_t npsh;
static struct h_frame upd_vec[3];  /* the real server's UPD frames */
static size_t before_read;

static int setup(void **state)
{
	(void)state;
	for (size_t i = 0; i < TOTAL; i++)
		payload[i] = (uint8_t)i;
	json_t *root = h_load_vectors();
	json_t *fc = json_object_get(root, "flow_control");
	assert_int_equal(h_int(fc, "client_write_bytes"), TOTAL);
	before_read = (size_t)h_int(fc, "psh_payload_bytes_sent_before_server_read");
	assert_int_equal(before_read, SF_SMUX_INITIAL_PEER_WINDOW);

	size_t i, off = 0;
	json_t *f;
	json_array_foreach(json_object_get(fc, "client_to_server_frames"), i, f) {
		if (i == 0) {
			assert_string_equal(h_str(f, "cmd"), "SYN");
			continue;
		}
		assert_string_equal(h_str(f, "cmd"), "PSH");
		assert_int_equal(h_int(f, "sid"), 3);
		size_t len = (size_t)h_int(f, "len");
		/* the payload we rebuild is the one that was captured */
		uint8_t md[SHA256_DIGEST_LENGTH];
		SHA256(payload + off, len, md);
		char want[200];
		int w = snprintf(want, sizeof want, "%zu bytes, sha256 ", len);
		for (int k = 0; k < SHA256_DIGEST_LENGTH; k++)
			w += snprintf(want + w, sizeof want - (size_t)w, "%02x", md[k]);
		assert_string_equal(h_str(f, "payload_summary"), want);
		assert_true(npsh < 64);
		pshs[npsh].off = off;
		pshs[npsh++].len = len;
		off += len;
	}
	assert_int_equal(off, TOTAL);
	assert_int_equal(npsh, 37);

	json_array_foreach(json_object_get(fc, "server_to_client_frames"), i, f) {
		assert_true(i < 3);
		size_t hl, pl;
		uint8_t *h = h_unhex(h_str(f, "header_hex"), &hl);
		uint8_t *p = h_unhex(h_str(f, "payload_hex"), &pl);
		upd_vec[i].len = hl + pl;
		upd_vec[i].bytes = malloc(hl + pl);
		assert_non_null(upd_vec[i].bytes);
		memcpy(upd_vec[i].bytes, h, hl);
		memcpy(upd_vec[i].bytes + hl, p, pl);
		free(h);
		free(p);
	}
	json_decref(root);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < 3; i++)
		free(upd_vec[i].bytes);
	return 0;
}

static void feed_psh(struct h_app *app, size_t k)
{
	assert_int_equal(h_feed(app, SF_SMUX_PSH, 3, payload + pshs[k].off, (uint16_t)pshs[k].len, 0),
			 0);
}

static void test_receiver_upds(void **state)
{
	(void)state;
	struct h_app app;
	h_app_init(&app, 0);
	assert_int_equal(h_feed(&app, SF_SMUX_SYN, 3, NULL, 0, 0), 0);
	struct h_stream *hs = h_app_stream(&app, 3);
	assert_non_null(hs);

	/* the peer's initial window worth, not read: nothing to say yet */
	size_t k = 0, got = 0;
	while (got < before_read) {
		feed_psh(&app, k);
		got += pshs[k++].len;
	}
	assert_int_equal(got, before_read);
	assert_int_equal(k, 8);
	assert_int_equal(app.nframes, 0);
	assert_int_equal(sf_smux_unconsumed(app.sess), before_read);

	/* drain one frame at a time; the peer sends the next frame as its window allows */
	size_t consumed_frames = 0, nupd = 0;
	size_t upd_after[3] = { 0 };
	while (consumed_frames < npsh) {
		sf_smux_stream_consumed(hs->st, pshs[consumed_frames++].len);
		if (app.nframes > nupd) {
			assert_int_equal(app.nframes, nupd + 1);
			assert_true(nupd < 3);
			assert_int_equal(app.frames[nupd].len, upd_vec[nupd].len);
			assert_memory_equal(app.frames[nupd].bytes, upd_vec[nupd].bytes,
					    upd_vec[nupd].len);
			upd_after[nupd++] = consumed_frames;
		}
		if (k < npsh)
			feed_psh(&app, k++);
	}
	assert_int_equal(nupd, 3);
	assert_int_equal(upd_after[0], 1);
	assert_int_equal(upd_after[1], 17);
	assert_int_equal(upd_after[2], 33);
	h_assert_upd(&app.frames[2], 3, 1081344, SF_SMUX_STREAM_WINDOW);
	assert_int_equal(hs->len, TOTAL);
	assert_memory_equal(hs->data, payload, TOTAL);
	assert_int_equal(sf_smux_unconsumed(app.sess), 0);
	h_app_free(&app);
}

/* The peer model for the sender side: a Go reader that reads each frame as it comes and answers
 * with UPD by the same rule as ours. */
struct peer {
	uint32_t read, incr;
	size_t frames_seen;
	size_t sent_total;
};

static struct peer P;

static void peer_read_all(struct h_app *app)
{
	for (; P.frames_seen < app->nframes; P.frames_seen++) {
		struct h_frame *f = &app->frames[P.frames_seen];
		h_assert_frame(f, SF_SMUX_PSH, 3, f->len - SF_SMUX_HDR_LEN);
		size_t n = f->len - SF_SMUX_HDR_LEN;
		assert_true(n <= SF_SMUX_MAX_FRAME);
		assert_memory_equal(f->bytes + SF_SMUX_HDR_LEN, payload + P.sent_total, n);
		P.sent_total += n;
		P.read += (uint32_t)n;
		P.incr += (uint32_t)n;
		if (P.incr >= SF_SMUX_STREAM_WINDOW / 2 || P.read == n) {
			P.incr = 0;
			assert_int_equal(h_feed_upd(app, 3, P.read, SF_SMUX_STREAM_WINDOW, 0), 0);
		}
	}
}

static size_t written;

static void on_writable(struct h_app *app, struct h_stream *hs)
{
	(void)app;
	size_t room = sf_smux_stream_write_room(hs->st);
	assert_true(room > 0);
	size_t n = sf_smux_stream_write(hs->st, payload + written, TOTAL - written);
	assert_int_equal(n, room < TOTAL - written ? room : TOTAL - written);
	written += n;
}

static void test_sender_window(void **state)
{
	(void)state;
	struct h_app app;
	h_app_init(&app, 0);
	assert_int_equal(h_feed(&app, SF_SMUX_SYN, 3, NULL, 0, 0), 0);
	struct h_stream *hs = h_app_stream(&app, 3);

	/* an UPD before anything was limited does not call writable */
	assert_int_equal(h_feed_upd(&app, 3, 0, SF_SMUX_INITIAL_PEER_WINDOW, 0), 0);
	assert_int_equal(hs->writables, 0);

	assert_int_equal(sf_smux_stream_write_room(hs->st), SF_SMUX_INITIAL_PEER_WINDOW);
	written = sf_smux_stream_write(hs->st, payload, TOTAL);
	assert_int_equal(written, SF_SMUX_INITIAL_PEER_WINDOW);
	assert_int_equal(app.nframes, 8);
	for (size_t i = 0; i < 8; i++)
		h_assert_frame(&app.frames[i], SF_SMUX_PSH, 3, SF_SMUX_MAX_FRAME);
	assert_int_equal(sf_smux_stream_write_room(hs->st), 0);
	assert_int_equal(sf_smux_stream_write(hs->st, payload + written, TOTAL - written), 0);
	assert_int_equal(app.nframes, 8);

	/* an UPD that opens nothing: still blocked, no callback */
	assert_int_equal(h_feed_upd(&app, 3, 0, SF_SMUX_INITIAL_PEER_WINDOW, 0), 0);
	assert_int_equal(hs->writables, 0);

	/* the peer reads: its UPDs reopen the window and the app writes the rest */
	app.on_writable = on_writable;
	memset(&P, 0, sizeof P);
	for (int round = 0; round < 100 && P.sent_total < TOTAL; round++)
		peer_read_all(&app);
	assert_int_equal(written, TOTAL);
	assert_int_equal(P.sent_total, TOTAL);
	/* UPD 32768 opened 1048576 - (262144 - 32768) = 819200 bytes, UPD 557056 the rest; the
	 * last write was not limited, so UPD 1081344 did not call writable */
	assert_int_equal(hs->writables, 2);
	assert_int_equal(app.nframes, 37);
	h_app_free(&app);
}

static void test_writable_once_per_block(void **state)
{
	(void)state;
	struct h_app app;
	h_app_init(&app, 0);
	assert_int_equal(h_feed(&app, SF_SMUX_SYN, 7, NULL, 0, 0), 0);
	struct h_stream *hs = h_app_stream(&app, 7);
	assert_int_equal(sf_smux_stream_write(hs->st, payload, TOTAL), SF_SMUX_INITIAL_PEER_WINDOW);
	assert_int_equal(h_feed_upd(&app, 7, 1000, SF_SMUX_INITIAL_PEER_WINDOW, 0), 0);
	assert_int_equal(hs->writables, 1);
	assert_int_equal(sf_smux_stream_write_room(hs->st), 1000);
	/* not written since: a second UPD says nothing new to the app */
	assert_int_equal(h_feed_upd(&app, 7, 2000, SF_SMUX_INITIAL_PEER_WINDOW, 0), 0);
	assert_int_equal(hs->writables, 1);
	assert_int_equal(sf_smux_stream_write_room(hs->st), 2000);
	/* a window >= 2^31 reads as negative in the reference's int32 math: no room */
	assert_int_equal(h_feed_upd(&app, 7, 2000, 0x80000000u, 0), 0);
	assert_int_equal(sf_smux_stream_write_room(hs->st), 0);
	h_app_free(&app);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_receiver_upds),
		cmocka_unit_test(test_sender_window),
		cmocka_unit_test(test_writable_once_per_block),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
