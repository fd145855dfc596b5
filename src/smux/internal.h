/* Shared between session.c and stream.c; not part of the API. */
#ifndef SF_SMUX_INTERNAL_H
#define SF_SMUX_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/bug.h"
#include "smux/frame.h"
#include "smux/smux.h"

/* All counters are u32 and wrap like the reference's. */
struct sf_smux_stream {
	struct sf_smux_session *sess;
	uint32_t id;
	void *user;
	bool fin_received;
	bool write_blocked;     /* a write was cut short: report the next window opening */

	/* receive side */
	uint32_t num_recv;      /* payload bytes delivered */
	uint32_t num_read;      /* payload bytes consumed by the application */
	uint32_t incr;          /* consumed since our last UPD */
	uint32_t upd_consumed;  /* consumed value of our last UPD: the peer's window starts there */
	size_t unconsumed;

	/* send side */
	uint32_t num_written;
	uint32_t peer_consumed;
	uint32_t peer_window;
};

enum sf_smux_parse_state {
	SF_SMUX_WANT_HDR,
	SF_SMUX_IN_PSH,
	SF_SMUX_IN_UPD,
};

struct sf_smux_session {
	struct sf_smux_callbacks cb;
	void *user;

	/* open streams sorted by id: binary search, no hash to attack */
	struct sf_smux_stream **streams;
	size_t nstreams;
	size_t cap_streams;
	size_t unconsumed;	/* delivered, not consumed: open streams' and held */
	size_t held;		/* ... of which closed streams' (the application still has them) */

	/* input parser */
	enum sf_smux_parse_state state;
	uint8_t hdr_buf[SF_SMUX_HDR_LEN];
	size_t hdr_have;
	struct sf_smux_hdr hdr;
	size_t payload_left;
	struct sf_smux_stream *psh_stream;  /* NULL: discard the rest of this PSH */
	struct sf_smux_stream *opening;     /* inside stream_open; NULL if closed meanwhile */
	uint8_t upd_buf[SF_SMUX_UPD_LEN];
	size_t upd_have;
	bool broken;
	unsigned in_callback;	/* application callbacks running (smux.h: no input/free there) */

	/* keepalive */
	bool header_seen;
	uint64_t next_nop;
	uint64_t nop_interval;	/* SF_SMUX_KEEPALIVE_INTERVAL_MS unless set */
	bool ride;		/* ours leaves with the acknowledgement of the peer's NOP */
	uint64_t last_nop;	/* when our last NOP left (0: none yet) */
	uint64_t next_check;
	uint64_t idle_timeout;	/* the check's period: SF_SMUX_KEEPALIVE_TIMEOUT_MS unless set */

	bool limit_logged;
	uint64_t next_sid;	/* our next stream id (client side): odd, as xtaci/smux's client */
};

void sf_smux_send(struct sf_smux_session *s, uint8_t cmd, uint32_t sid, const uint8_t *payload,
		  uint16_t len);

struct sf_smux_stream *sf_smux_table_find(const struct sf_smux_session *s, uint32_t sid);
/* -1 when the table cannot grow. */
int sf_smux_table_insert(struct sf_smux_session *s, struct sf_smux_stream *st);
void sf_smux_table_remove(struct sf_smux_session *s, struct sf_smux_stream *st);

/* Removes and frees without sending anything. */
void sf_smux_stream_destroy(struct sf_smux_stream *st);
/* UPD from the peer; -1 when it claims more consumed than we wrote. */
int sf_smux_stream_peer_update(struct sf_smux_stream *st, uint32_t consumed, uint32_t window);

#endif
