/* The Extended ORPort auth cookie file tor writes: a 32-byte header, then the 32-byte cookie. */
#ifndef SF_TOR_COOKIE_H
#define SF_TOR_COOKIE_H

#include <stddef.h>
#include <stdint.h>

#define SF_TOR_COOKIE_LEN 32

/* Reads path, which must hold exactly 64 bytes with the right header (compared in constant
 * time). Returns 0, or -1 with goptlib's error text in err: "open <path>: <reason>", "EOF"
 * (empty), "unexpected EOF" (shorter than 64 bytes), "file is longer than 64 bytes",
 * "missing auth cookie header", "read <path>: <reason>". */
int sf_tor_cookie_read(const char *path, uint8_t cookie[SF_TOR_COOKIE_LEN], char *err, size_t errlen);

#endif
