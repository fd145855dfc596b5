#include "ws/ws.h"

#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <wslay/wslay.h>

/* wslay's event layer is not used: even with no_buffering it UTF-8-checks Text frames, echoes
 * the Close reason and answers frame-level errors with an empty Close. Its frame codec does the
 * parsing, unmasking and framing; the rules gorilla applies on top live here. */

struct sf_ws {
	wslay_frame_context_ptr frame;
	struct sf_ws_callbacks cb;
	void *user;

	const uint8_t *in;	/* the sf_ws_feed() input not yet handed to wslay */
	size_t in_len;

	bool in_frame;		/* between a frame's first chunk and its end */
	uint8_t opcode;
	uint64_t remaining;
	bool in_message;	/* a fragmented data message awaits its FIN frame */
	uint8_t ctrl[125];
	size_t ctrl_len;

	bool close_sent, close_received, failed;
};

static ssize_t recv_cb(uint8_t *buf, size_t len, int flags, void *user)
{
	(void)flags;
	struct sf_ws *ws = user;
	if (ws->in_len == 0)
		return -1;	/* wslay reads this as "want read" */
	size_t n = len < ws->in_len ? len : ws->in_len;
	memcpy(buf, ws->in, n);
	ws->in += n;
	ws->in_len -= n;
	return (ssize_t)n;
}

static ssize_t send_cb(const uint8_t *data, size_t len, int flags, void *user)
{
	(void)flags;
	struct sf_ws *ws = user;
	if (ws->cb.on_output)
		ws->cb.on_output(ws->user, data, len);
	return (ssize_t)len;
}

static int genmask_cb(uint8_t *buf, size_t len, void *user)
{
	(void)buf;
	(void)len;
	(void)user;
	return -1;	/* a server never masks */
}

static const struct wslay_frame_callbacks frame_callbacks = {
	.send_callback = send_cb,
	.recv_callback = recv_cb,
	.genmask_callback = genmask_cb,
};

static int send_frame(struct sf_ws *ws, uint8_t opcode, const uint8_t *p, size_t n)
{
	struct wslay_frame_iocb iocb = {
		.fin = 1,
		.opcode = opcode,
		.payload_length = n,
		.data = p,
		.data_length = n,
	};
	/* on_output takes everything, so one call writes the whole frame. */
	ssize_t r = wslay_frame_send(ws->frame, &iocb);
	return (r < 0 || (size_t)r != n) ? -1 : 0;
}

static void send_close(struct sf_ws *ws, uint16_t code)
{
	if (ws->close_sent)
		return;
	uint8_t payload[2] = { (uint8_t)(code >> 8), (uint8_t)code };
	ws->close_sent = true;
	send_frame(ws, WSLAY_CONNECTION_CLOSE, payload, code == SF_WS_CLOSE_NO_STATUS ? 0 : 2);
}

static int fail(struct sf_ws *ws, uint16_t code)
{
	send_close(ws, code);
	ws->failed = true;
	return -1;
}

/* Go's utf8.Valid: shortest forms only, no surrogates, nothing above U+10FFFF. */
static bool utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = s[i];
		size_t len;
		uint32_t cp, min;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			len = 2, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4, cp = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

/* gorilla's validReceivedCloseCodes, plus the 3000-4999 application range. */
static bool valid_close_code(uint16_t code)
{
	switch (code) {
	case 1000: case 1001: case 1002: case 1003:
	case 1007: case 1008: case 1009: case 1010: case 1011: case 1012: case 1013:
		return true;
	default:
		return code >= 3000 && code <= 4999;
	}
}

static bool is_control(uint8_t opcode)
{
	return opcode & 0x8;
}

/* The header checks gorilla's advanceFrame makes; wslay already refused long or fragmented
 * control frames and bad lengths. */
static int frame_start(struct sf_ws *ws, const struct wslay_frame_iocb *f)
{
	if (f->rsv || !f->mask)
		return fail(ws, 1002);
	switch (f->opcode) {
	case WSLAY_TEXT_FRAME:
	case WSLAY_BINARY_FRAME:
		if (ws->in_message)
			return fail(ws, 1002);	/* data before FIN */
		ws->in_message = !f->fin;
		break;
	case WSLAY_CONTINUATION_FRAME:
		if (!ws->in_message)
			return fail(ws, 1002);	/* continuation after FIN */
		ws->in_message = !f->fin;
		break;
	case WSLAY_CONNECTION_CLOSE:
	case WSLAY_PING:
	case WSLAY_PONG:
		break;
	default:
		return fail(ws, 1002);	/* bad opcode */
	}
	if (!is_control(f->opcode) && f->payload_length > SF_WS_MAX_FRAME)
		return fail(ws, 1009);
	ws->in_frame = true;
	ws->opcode = f->opcode;
	ws->remaining = f->payload_length;
	ws->ctrl_len = 0;
	return 0;
}

static int frame_end(struct sf_ws *ws)
{
	ws->in_frame = false;
	if (ws->opcode == WSLAY_PING) {
		if (!ws->close_sent)
			send_frame(ws, WSLAY_PONG, ws->ctrl, ws->ctrl_len);
	} else if (ws->opcode == WSLAY_CONNECTION_CLOSE) {
		uint16_t code = SF_WS_CLOSE_NO_STATUS;
		if (ws->ctrl_len >= 2) {
			code = (uint16_t)(ws->ctrl[0] << 8 | ws->ctrl[1]);
			if (!valid_close_code(code) || !utf8_valid(ws->ctrl + 2, ws->ctrl_len - 2))
				return fail(ws, 1002);
		}
		send_close(ws, code);
		ws->close_received = true;
		if (ws->cb.on_close)
			ws->cb.on_close(ws->user, code);
	}
	return 0;
}

struct sf_ws *sf_ws_new(const struct sf_ws_callbacks *cb, void *user)
{
	struct sf_ws *ws = calloc(1, sizeof *ws);
	if (!ws)
		return NULL;
	if (wslay_frame_context_init(&ws->frame, &frame_callbacks, ws) != 0) {
		free(ws);
		return NULL;
	}
	sf_ws_set_callbacks(ws, cb, user);
	return ws;
}

void sf_ws_free(struct sf_ws *ws)
{
	if (!ws)
		return;
	wslay_frame_context_free(ws->frame);
	free(ws);
}

void sf_ws_set_callbacks(struct sf_ws *ws, const struct sf_ws_callbacks *cb, void *user)
{
	memset(&ws->cb, 0, sizeof ws->cb);
	if (cb)
		ws->cb = *cb;
	ws->user = user;
}

int sf_ws_feed(struct sf_ws *ws, const uint8_t *p, size_t n)
{
	if (ws->failed)
		return -1;
	if (ws->close_sent)
		return 0;	/* the read side is over once either side said Close */
	ws->in = p;
	ws->in_len = n;
	int rc = 0;
	while (!ws->close_sent) {
		struct wslay_frame_iocb f;
		memset(&f, 0, sizeof f);
		ssize_t r = wslay_frame_recv(ws->frame, &f);
		if (r == WSLAY_ERR_WANT_READ)
			break;	/* only after recv_cb found the input used up */
		if (r < 0) {
			rc = fail(ws, 1002);	/* long/fragmented control frame, bad length */
			break;
		}
		if (!ws->in_frame && frame_start(ws, &f) < 0) {
			rc = -1;
			break;
		}
		if (f.data_length > 0) {
			if (is_control(ws->opcode)) {
				if (f.data_length > sizeof ws->ctrl - ws->ctrl_len) {
					rc = fail(ws, 1002);
					break;
				}
				memcpy(ws->ctrl + ws->ctrl_len, f.data, f.data_length);
				ws->ctrl_len += f.data_length;
			} else if (ws->cb.on_data) {
				ws->cb.on_data(ws->user, f.data, f.data_length);
			}
			ws->remaining -= f.data_length;
		}
		if (ws->remaining == 0 && frame_end(ws) < 0) {
			rc = -1;
			break;
		}
	}
	ws->in = NULL;
	ws->in_len = 0;
	return rc;
}

int sf_ws_send_binary(struct sf_ws *ws, const uint8_t *p, size_t n)
{
	if (ws->close_sent)
		return -1;
	return send_frame(ws, WSLAY_BINARY_FRAME, p, n);
}

void sf_ws_close(struct sf_ws *ws)
{
	send_close(ws, SF_WS_CLOSE_NO_STATUS);
}

bool sf_ws_close_sent(const struct sf_ws *ws)
{
	return ws->close_sent;
}
