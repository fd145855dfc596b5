/* Shared by the test_smux_*.c files: vector loading, hex, and a recording application that sits
 * on the sf_smux callbacks. Everything is static inline so each test uses what it needs. */
#ifndef SMUX_HARNESS_H
#define SMUX_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "vectors.h"

#include "smux/frame.h"
#include "smux/smux.h"

#define H_MAX_STREAMS 1100
#define H_DATA_CAP (8u << 20)   /* per-stream receive record cap */
#define H_MAX_FRAMES 4096

static inline json_t *h_load_vectors(void)
{
	json_t *root = vectors_load("smux.json");
	if (!root)
		fail_msg("cannot load smux.json");
	return root;
}

/* Decodes hex into a new buffer; *len gets its size. */
static inline uint8_t *h_unhex(const char *hex, size_t *len)
{
	uint8_t *out = vectors_unhex(hex, len);
	assert_non_null(out);
	return out;
}

static inline const char *h_str(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	assert_non_null(v);
	assert_true(json_is_string(v));
	return json_string_value(v);
}

static inline long long h_int(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	assert_non_null(v);
	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

struct h_frame {
	uint8_t *bytes;
	size_t len;
};

struct h_app;

struct h_stream {
	struct h_app *app;
	struct sf_smux_stream *st;  /* NULL once closed by the app */
	uint32_t id;
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t data_calls;
	int fins;
	int writables;
};

struct h_app {
	struct sf_smux_session *sess;
	struct h_frame frames[H_MAX_FRAMES];
	size_t nframes;
	size_t frame_bytes;
	struct h_stream *streams;
	size_t nstreams;
	size_t opens;
	bool refuse;          /* stream_open says no */
	bool close_on_fin;    /* the reference relay answers FIN with FIN at once (docs/smux.md) */
	bool consume_on_data; /* consume every delivery at once */
	bool close_in_open;   /* write "hello" and close from stream_open */
	/* optional hook run after each delivery was recorded */
	void (*on_data)(struct h_app *app, struct h_stream *hs, size_t n);
	/* optional hook for writable */
	void (*on_writable)(struct h_app *app, struct h_stream *hs);
};

static inline void h_output(void *user, const uint8_t *frame, size_t len)
{
	struct h_app *app = user;
	assert_true(app->nframes < H_MAX_FRAMES);
	assert_true(len >= SF_SMUX_HDR_LEN);
	struct h_frame *f = &app->frames[app->nframes++];
	f->bytes = malloc(len);
	assert_non_null(f->bytes);
	memcpy(f->bytes, frame, len);
	f->len = len;
	app->frame_bytes += len;
}

static inline void *h_stream_open(void *user, struct sf_smux_stream *st)
{
	struct h_app *app = user;
	app->opens++;
	if (app->refuse)
		return NULL;
	if (app->close_in_open) {
		assert_int_equal(sf_smux_stream_write(st, (const uint8_t *)"hello", 5), 5);
		sf_smux_stream_close(st);
		return app;  /* any non-NULL value: it must be ignored */
	}
	assert_true(app->nstreams < H_MAX_STREAMS);
	struct h_stream *hs = &app->streams[app->nstreams++];
	memset(hs, 0, sizeof *hs);
	hs->app = app;
	hs->st = st;
	hs->id = sf_smux_stream_id(st);
	return hs;
}

static inline void h_stream_data(void *user, const uint8_t *data, size_t len)
{
	struct h_stream *hs = user;
	assert_non_null(hs->st);
	assert_true(len > 0);
	assert_true(hs->len + len <= H_DATA_CAP);
	if (hs->len + len > hs->cap) {
		size_t cap = hs->cap ? hs->cap : 4096;
		while (cap < hs->len + len)
			cap *= 2;
		hs->data = realloc(hs->data, cap);
		assert_non_null(hs->data);
		hs->cap = cap;
	}
	memcpy(hs->data + hs->len, data, len);
	hs->len += len;
	hs->data_calls++;
	if (hs->app->consume_on_data)
		sf_smux_stream_consumed(hs->st, len);
	if (hs->app->on_data)
		hs->app->on_data(hs->app, hs, len);
}

static inline void h_stream_fin(void *user)
{
	struct h_stream *hs = user;
	hs->fins++;
	if (hs->app->close_on_fin && hs->st) {
		sf_smux_stream_close(hs->st);
		hs->st = NULL;
	}
}

static inline void h_stream_writable(void *user)
{
	struct h_stream *hs = user;
	hs->writables++;
	if (hs->app->on_writable)
		hs->app->on_writable(hs->app, hs);
}

static inline struct sf_smux_session *h_app_init(struct h_app *app, uint64_t now)
{
	static const struct sf_smux_callbacks cb = {
		.output = h_output,
		.stream_open = h_stream_open,
		.stream_data = h_stream_data,
		.stream_fin = h_stream_fin,
		.stream_writable = h_stream_writable,
	};
	memset(app, 0, sizeof *app);
	app->streams = calloc(H_MAX_STREAMS, sizeof *app->streams);
	assert_non_null(app->streams);
	app->sess = sf_smux_session_new(&cb, app, now);
	assert_non_null(app->sess);
	return app->sess;
}

static inline void h_app_clear_frames(struct h_app *app)
{
	for (size_t i = 0; i < app->nframes; i++)
		free(app->frames[i].bytes);
	app->nframes = 0;
	app->frame_bytes = 0;
}

static inline void h_app_free(struct h_app *app)
{
	sf_smux_session_free(app->sess);
	app->sess = NULL;
	h_app_clear_frames(app);
	for (size_t i = 0; i < app->nstreams; i++)
		free(app->streams[i].data);
	free(app->streams);
	app->streams = NULL;
}

static inline struct h_stream *h_app_stream(struct h_app *app, uint32_t id)
{
	for (size_t i = 0; i < app->nstreams; i++)
		if (app->streams[i].id == id)
			return &app->streams[i];
	return NULL;
}

/* A frame as the peer would send it (header + payload), into buf; returns its size. */
static inline size_t h_frame(uint8_t *buf, uint8_t cmd, uint32_t sid, const uint8_t *payload,
			     uint16_t len)
{
	sf_smux_hdr_encode(buf, cmd, len, sid);
	if (len)
		memcpy(buf + SF_SMUX_HDR_LEN, payload, len);
	return SF_SMUX_HDR_LEN + (size_t)len;
}

static inline int h_feed(struct h_app *app, uint8_t cmd, uint32_t sid, const uint8_t *payload,
			 uint16_t len, uint64_t now)
{
	uint8_t *buf = malloc(SF_SMUX_HDR_LEN + (size_t)len);
	assert_non_null(buf);
	size_t n = h_frame(buf, cmd, sid, payload, len);
	int rc = sf_smux_input(app->sess, buf, n, now);
	free(buf);
	return rc;
}

static inline int h_feed_upd(struct h_app *app, uint32_t sid, uint32_t consumed, uint32_t window,
			     uint64_t now)
{
	uint8_t upd[SF_SMUX_UPD_LEN];
	sf_smux_upd_encode(upd, consumed, window);
	return h_feed(app, SF_SMUX_UPD, sid, upd, sizeof upd, now);
}

static inline void h_assert_frame(const struct h_frame *f, uint8_t cmd, uint32_t sid, size_t len)
{
	struct sf_smux_hdr h;
	sf_smux_hdr_decode(f->bytes, &h);
	assert_int_equal(h.ver, SF_SMUX_VERSION);
	assert_int_equal(h.cmd, cmd);
	assert_int_equal(h.sid, sid);
	assert_int_equal(h.len, len);
	assert_int_equal(f->len, SF_SMUX_HDR_LEN + len);
}

static inline void h_assert_upd(const struct h_frame *f, uint32_t sid, uint32_t consumed,
				uint32_t window)
{
	h_assert_frame(f, SF_SMUX_UPD, sid, SF_SMUX_UPD_LEN);
	uint32_t c, w;
	sf_smux_upd_decode(f->bytes + SF_SMUX_HDR_LEN, &c, &w);
	assert_int_equal(c, consumed);
	assert_int_equal(w, window);
}

#endif
