/* smux frame encoding/decoding against the frames the real smux wrote (smux.json) and the
 * docs/smux.md "Frame" bytes produced by a live session. */
#include "smux_harness.h"

static int cmd_from_name(const char *name)
{
	static const char *names[] = { "SYN", "FIN", "PSH", "NOP", "UPD" };
	for (int i = 0; i < 5; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	fail_msg("unknown cmd name %s", name);
	return -1;
}

/* Decodes header_hex, compares with the given fields, re-encodes and compares bytes. */
static void check_header(const uint8_t *bytes, const char *cmd, long long sid, long long len)
{
	struct sf_smux_hdr h;
	sf_smux_hdr_decode(bytes, &h);
	assert_int_equal(h.ver, 2);
	assert_int_equal(h.cmd, cmd_from_name(cmd));
	assert_int_equal(h.sid, sid);
	assert_int_equal(h.len, len);
	uint8_t again[SF_SMUX_HDR_LEN];
	sf_smux_hdr_encode(again, h.cmd, h.len, h.sid);
	assert_memory_equal(again, bytes, SF_SMUX_HDR_LEN);
}

static void check_upd(const uint8_t *payload, long long consumed, long long window)
{
	uint32_t c, w;
	sf_smux_upd_decode(payload, &c, &w);
	assert_int_equal(c, consumed);
	assert_int_equal(w, window);
	uint8_t again[SF_SMUX_UPD_LEN];
	sf_smux_upd_encode(again, c, w);
	assert_memory_equal(again, payload, SF_SMUX_UPD_LEN);
}

static void test_frame_vectors(void **state)
{
	(void)state;
	json_t *root = h_load_vectors();
	json_t *vecs = json_object_get(root, "frame_vectors");
	assert_true(json_array_size(vecs) >= 20);
	size_t i;
	json_t *v;
	json_array_foreach(vecs, i, v) {
		size_t n;
		uint8_t *b = h_unhex(h_str(v, "hex"), &n);
		const char *cmd = h_str(v, "cmd");
		long long len = h_int(v, "len");
		assert_true(n >= SF_SMUX_HDR_LEN);
		check_header(b, cmd, h_int(v, "sid"), len);
		if (strstr(h_str(v, "name"), "header only"))
			assert_int_equal(n, SF_SMUX_HDR_LEN);
		else
			assert_int_equal(n, SF_SMUX_HDR_LEN + len);
		if (strcmp(cmd, "UPD") == 0) {
			assert_int_equal(len, 8);
			check_upd(b + SF_SMUX_HDR_LEN, h_int(v, "upd_consumed"), h_int(v, "upd_window"));
		}
		free(b);
	}
	json_decref(root);
}

static void check_frame_list(json_t *frames, size_t expect_min)
{
	assert_true(json_array_size(frames) >= expect_min);
	size_t i;
	json_t *f;
	json_array_foreach(frames, i, f) {
		size_t n;
		uint8_t *b = h_unhex(h_str(f, "header_hex"), &n);
		assert_int_equal(n, SF_SMUX_HDR_LEN);
		check_header(b, h_str(f, "cmd"), h_int(f, "sid"), h_int(f, "len"));
		free(b);
		if (strcmp(h_str(f, "cmd"), "UPD") == 0) {
			uint8_t *p = h_unhex(h_str(f, "payload_hex"), &n);
			assert_int_equal(n, SF_SMUX_UPD_LEN);
			check_upd(p, h_int(f, "upd_consumed"), h_int(f, "upd_window"));
			free(p);
		}
	}
}

static void test_capture_frames(void **state)
{
	(void)state;
	json_t *root = h_load_vectors();
	json_t *ex = json_object_get(root, "exchange");
	check_frame_list(json_object_get(json_object_get(ex, "client_to_server"), "frames"), 8);
	check_frame_list(json_object_get(json_object_get(ex, "server_to_client"), "frames"), 6);
	json_t *fc = json_object_get(root, "flow_control");
	check_frame_list(json_object_get(fc, "client_to_server_frames"), 38);
	check_frame_list(json_object_get(fc, "server_to_client_frames"), 3);
	json_decref(root);
}

/* docs/smux.md "Frame", driven through a session: SYN, PSH "hi", our UPD, FIN, our FIN, NOP. */
static void test_section_6_7(void **state)
{
	(void)state;
	static const uint8_t syn[] = { 0x02, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00 };
	static const uint8_t psh[] = { 0x02, 0x02, 0x02, 0x00, 0x03, 0x00, 0x00, 0x00, 0x68, 0x69 };
	static const uint8_t upd[] = { 0x02, 0x04, 0x08, 0x00, 0x03, 0x00, 0x00, 0x00,
				       0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00 };
	static const uint8_t fin[] = { 0x02, 0x01, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00 };
	static const uint8_t nop[] = { 0x02, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 };

	struct h_app app;
	h_app_init(&app, 0);
	app.consume_on_data = true;
	app.close_on_fin = true;

	assert_int_equal(sf_smux_input(app.sess, syn, sizeof syn, 1), 0);
	assert_int_equal(app.nstreams, 1);
	assert_int_equal(app.streams[0].id, 3);
	assert_int_equal(app.nframes, 0);

	assert_int_equal(sf_smux_input(app.sess, psh, sizeof psh, 2), 0);
	assert_int_equal(app.streams[0].len, 2);
	assert_memory_equal(app.streams[0].data, "hi", 2);
	assert_int_equal(app.nframes, 1);
	assert_int_equal(app.frames[0].len, sizeof upd);
	assert_memory_equal(app.frames[0].bytes, upd, sizeof upd);

	assert_int_equal(sf_smux_input(app.sess, fin, sizeof fin, 3), 0);
	assert_int_equal(app.streams[0].fins, 1);
	assert_int_equal(app.nframes, 2);
	assert_int_equal(app.frames[1].len, sizeof fin);
	assert_memory_equal(app.frames[1].bytes, fin, sizeof fin);
	assert_int_equal(sf_smux_stream_count(app.sess), 0);

	assert_int_equal(sf_smux_input(app.sess, nop, sizeof nop, 4), 0);
	assert_int_equal(app.nframes, 2);
	assert_int_equal(sf_smux_tick(app.sess, SF_SMUX_KEEPALIVE_INTERVAL_MS), 0);
	assert_int_equal(app.nframes, 3);
	assert_int_equal(app.frames[2].len, sizeof nop);
	assert_memory_equal(app.frames[2].bytes, nop, sizeof nop);
	h_app_free(&app);
}

/* Our own writes: PSH split at 32768, header fields little-endian. */
static void test_write_framing(void **state)
{
	(void)state;
	struct h_app app;
	h_app_init(&app, 0);
	assert_int_equal(h_feed(&app, SF_SMUX_SYN, 0x01020304, NULL, 0, 0), 0);
	struct h_stream *hs = h_app_stream(&app, 0x01020304);
	assert_non_null(hs);

	static uint8_t data[40000];
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (uint8_t)i;
	assert_int_equal(sf_smux_stream_write(hs->st, data, sizeof data), sizeof data);
	assert_int_equal(app.nframes, 2);
	static const uint8_t h1[] = { 0x02, 0x02, 0x00, 0x80, 0x04, 0x03, 0x02, 0x01 };
	static const uint8_t h2[] = { 0x02, 0x02, 0x40, 0x1c, 0x04, 0x03, 0x02, 0x01 };
	assert_int_equal(app.frames[0].len, 8 + 32768);
	assert_memory_equal(app.frames[0].bytes, h1, 8);
	assert_memory_equal(app.frames[0].bytes + 8, data, 32768);
	assert_int_equal(app.frames[1].len, 8 + 7232);
	assert_memory_equal(app.frames[1].bytes, h2, 8);
	assert_memory_equal(app.frames[1].bytes + 8, data + 32768, 7232);
	assert_int_equal(sf_smux_stream_write(hs->st, data, 0), 0);
	assert_int_equal(app.nframes, 2);
	h_app_free(&app);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_vectors),
		cmocka_unit_test(test_capture_frames),
		cmocka_unit_test(test_section_6_7),
		cmocka_unit_test(test_write_framing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
