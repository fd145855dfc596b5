#include "ws/ws.h"

#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <wslay/wslay.h>

/* wslay's event layer is not used: even with no_buffering it UTF-8-checks Text frames, echoes
 * the Close reason and answers frame-level errors with an empty Close. Its frame codec builds the
 * frames we send. Received frames are parsed here: wslay's receive path unmasks one byte at a
 * time (a fifth of the server's CPU in a bulk transfer), and gorilla's rules apply on top. */

struct sf_ws {
	wslay_frame_context_ptr frame;	/* builds our (unmasked) frames */
	struct sf_ws_callbacks cb;
	void *user;

	/* Receive side, parsed here: wslay unmasks byte by byte, a fifth of the CPU of a bulk
	 * transfer. A frame header is collected in hdr, then the payload streams through. */
	uint8_t hdr[14];
	uint8_t hdr_len;		/* header bytes collected so far */
	bool in_frame;			/* header done, payload bytes remaining */
	uint8_t opcode;
	uint8_t mask[4];
	uint64_t remaining;
	uint64_t offset;		/* payload bytes already unmasked: the mask phase */
	bool in_message;	/* a fragmented data message awaits its FIN frame */
	uint8_t ctrl[125];
	size_t ctrl_len;

	bool close_sent, close_received, failed;
	bool client;			/* masks what it sends, wants unmasked frames */
};

static ssize_t send_cb(const uint8_t *data, size_t len, int flags, void *user)
{
	(void)flags;
	struct sf_ws *ws = user;
	if (ws->cb.on_output)
		ws->cb.on_output(ws->user, data, len);
	return (ssize_t)len;
}

static ssize_t no_recv_cb(uint8_t *buf, size_t len, int flags, void *user)
{
	(void)buf;
	(void)len;
	(void)flags;
	(void)user;
	return -1;	/* never used: frames are parsed in sf_ws_feed */
}

static int genmask_cb(uint8_t *buf, size_t len, void *user)
{
	struct sf_ws *ws = user;
	if (!ws->client || len != 4 || !ws->cb.on_mask)
		return -1;	/* a server never masks */
	ws->cb.on_mask(ws->user, buf);
	return 0;
}

static const struct wslay_frame_callbacks frame_callbacks = {
	.send_callback = send_cb,
	.recv_callback = no_recv_cb,
	.genmask_callback = genmask_cb,
};

static int send_frame(struct sf_ws *ws, uint8_t opcode, const uint8_t *p, size_t n)
{
	struct wslay_frame_iocb iocb = {
		.fin = 1,
		.opcode = opcode,
		.mask = ws->client,
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

/* The header checks gorilla's advanceFrame makes, on a complete header. */
static int frame_start(struct sf_ws *ws, bool fin, uint8_t rsv, bool masked, uint8_t opcode,
		       uint64_t len)
{
	if (rsv || masked == ws->client)	/* clients mask, servers do not */
		return fail(ws, 1002);
	switch (opcode) {
	case WSLAY_TEXT_FRAME:
	case WSLAY_BINARY_FRAME:
		if (ws->in_message)
			return fail(ws, 1002);	/* data before FIN */
		ws->in_message = !fin;
		break;
	case WSLAY_CONTINUATION_FRAME:
		if (!ws->in_message)
			return fail(ws, 1002);	/* continuation after FIN */
		ws->in_message = !fin;
		break;
	case WSLAY_CONNECTION_CLOSE:
	case WSLAY_PING:
	case WSLAY_PONG:
		if (!fin || len > sizeof ws->ctrl)
			return fail(ws, 1002);	/* fragmented or long control frame */
		break;
	default:
		return fail(ws, 1002);	/* bad opcode */
	}
	if (len >> 63)
		return fail(ws, 1002);
	if (!is_control(opcode) && len > SF_WS_MAX_FRAME)
		return fail(ws, 1009);
	ws->in_frame = true;
	ws->opcode = opcode;
	ws->remaining = len;
	ws->offset = 0;
	ws->ctrl_len = 0;
	return 0;
}

/* Size of the whole header, once its first two bytes are known. */
static size_t header_size(const uint8_t *hdr)
{
	uint8_t len7 = hdr[1] & 0x7f;
	return 2 + (hdr[1] & 0x80 ? 4 : 0) + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0);
}

static int parse_header(struct sf_ws *ws)
{
	const uint8_t *h = ws->hdr;
	uint64_t len = h[1] & 0x7f;
	size_t off = 2;
	if (len == 126) {
		len = (uint64_t)h[2] << 8 | h[3];
		off = 4;
	} else if (len == 127) {
		len = 0;
		for (int i = 0; i < 8; i++)
			len = len << 8 | h[2 + i];
		off = 10;
	}
	if (h[1] & 0x80)
		memcpy(ws->mask, h + off, 4);
	else
		memset(ws->mask, 0, 4);	/* a server's control frame, read by a client */
	return frame_start(ws, h[0] & 0x80, (h[0] >> 4) & 0x7, h[1] & 0x80, h[0] & 0x0f, len);
}

/* XOR with the 4-byte mask at phase `offset`, eight bytes at a time. */
static void unmask(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t mask[4],
		   uint64_t offset)
{
	uint8_t m8[8];
	for (int i = 0; i < 8; i++)
		m8[i] = mask[(offset + (uint64_t)i) & 3];
	uint64_t m;
	memcpy(&m, m8, 8);
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, src + i, 8);
		w ^= m;
		memcpy(dst + i, &w, 8);
	}
	for (; i < n; i++)
		dst[i] = src[i] ^ m8[i & 7];
}

static int frame_end(struct sf_ws *ws)
{
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

struct sf_ws *sf_ws_new_client(const struct sf_ws_callbacks *cb, void *user)
{
	if (!cb || !cb->on_mask)
		return NULL;
	struct sf_ws *ws = sf_ws_new(cb, user);
	if (ws)
		ws->client = true;
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

/* Unmasked payload on its way to on_data; per thread, since the object itself is movable. */
static _Thread_local uint8_t unmasked[16384];

int sf_ws_feed(struct sf_ws *ws, const uint8_t *p, size_t n)
{
	if (ws->failed)
		return -1;
	while (n > 0 && !ws->close_sent) {	/* the read side is over once a Close was sent */
		if (!ws->in_frame) {
			size_t want = ws->hdr_len < 2 ? 2 : header_size(ws->hdr);
			size_t take = want - ws->hdr_len < n ? want - ws->hdr_len : n;
			memcpy(ws->hdr + ws->hdr_len, p, take);
			ws->hdr_len += (uint8_t)take;
			p += take;
			n -= take;
			if (ws->hdr_len < 2 || ws->hdr_len < header_size(ws->hdr))
				continue;
			ws->hdr_len = 0;
			if (parse_header(ws) < 0)
				return -1;
		} else {
			size_t chunk = ws->remaining < n ? (size_t)ws->remaining : n;
			if (chunk > sizeof unmasked)
				chunk = sizeof unmasked;
			if (is_control(ws->opcode)) {
				unmask(ws->ctrl + ws->ctrl_len, p, chunk, ws->mask, ws->offset);
				ws->ctrl_len += chunk;
			} else if (ws->client && ws->cb.on_data) {
				ws->cb.on_data(ws->user, p, chunk);	/* server frames are clear */
			} else if (ws->cb.on_data) {
				unmask(unmasked, p, chunk, ws->mask, ws->offset);
				ws->cb.on_data(ws->user, unmasked, chunk);
			}
			p += chunk;
			n -= chunk;
			ws->offset += chunk;
			ws->remaining -= chunk;
		}
		if (ws->in_frame && ws->remaining == 0) {
			ws->in_frame = false;
			if (frame_end(ws) < 0)
				return -1;
		}
	}
	return 0;
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

void sf_ws_close_code(struct sf_ws *ws, uint16_t code)
{
	send_close(ws, code);
}

bool sf_ws_close_sent(const struct sf_ws *ws)
{
	return ws->close_sent;
}
