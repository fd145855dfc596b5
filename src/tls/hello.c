#include "tls/hello.h"

#include <string.h>

/* A bounds-checked reader over extension bytes. */
struct reader {
	const uint8_t *p;
	size_t left;
};

static bool read_u8(struct reader *r, uint8_t *v)
{
	if (r->left < 1)
		return false;
	*v = r->p[0];
	r->p++;
	r->left--;
	return true;
}

static bool read_u16(struct reader *r, uint16_t *v)
{
	if (r->left < 2)
		return false;
	*v = (uint16_t)(r->p[0] << 8 | r->p[1]);
	r->p += 2;
	r->left -= 2;
	return true;
}

static bool read_bytes(struct reader *r, size_t n, struct reader *out)
{
	if (r->left < n)
		return false;
	out->p = r->p;
	out->left = n;
	r->p += n;
	r->left -= n;
	return true;
}

/* The whole body must be one non-empty u16-prefixed list, as Go's parser insists. */
static bool read_list16(const uint8_t *ext, size_t len, struct reader *list)
{
	struct reader r = { ext, len };
	uint16_t n;
	return read_u16(&r, &n) && read_bytes(&r, n, list) && r.left == 0 && list->left > 0;
}

int sf_tls_hello_sni(const uint8_t *ext, size_t len, char *name, size_t cap)
{
	struct reader list;
	bool found = false;
	if (!read_list16(ext, len, &list))
		return -1;
	while (list.left > 0) {
		uint8_t type;
		uint16_t n;
		struct reader entry;
		if (!read_u8(&list, &type) || !read_u16(&list, &n) || n == 0 ||
		    !read_bytes(&list, n, &entry))
			return -1;
		if (type != 0)	/* only host_name exists; skip what may come */
			continue;
		if (found || n >= cap || memchr(entry.p, 0, n))
			return -1;
		memcpy(name, entry.p, n);
		name[n] = '\0';
		found = true;
	}
	return found;
}

int sf_tls_alpn_acme_only(const uint8_t *list, size_t len)
{
	static const char acme[] = "acme-tls/1";
	struct reader r = { list, len };
	size_t count = 0;
	bool is_acme = false;
	while (r.left > 0) {
		uint8_t n;
		struct reader proto;
		if (!read_u8(&r, &n) || n == 0 || !read_bytes(&r, n, &proto))
			return -1;
		is_acme = n == sizeof acme - 1 && memcmp(proto.p, acme, n) == 0;
		count++;
	}
	return count == 1 && is_acme;
}

/* Each helper: 1 if the list holds a wanted value, 0 if not, -1 if malformed. */
static int sigalgs_allow_ecdsa(const uint8_t *ext, size_t len)
{
	struct reader list;
	int ok = 0;
	if (!read_list16(ext, len, &list))
		return -1;
	while (list.left > 0) {
		uint16_t scheme;
		if (!read_u16(&list, &scheme))
			return -1;
		/* ecdsa_sha1, ecdsa_secp256r1_sha256, ecdsa_secp384r1_sha384, ecdsa_secp521r1_sha512 */
		if (scheme == 0x0203 || scheme == 0x0403 || scheme == 0x0503 || scheme == 0x0603)
			ok = 1;
	}
	return ok;
}

static int groups_have_p256(const uint8_t *ext, size_t len)
{
	struct reader list;
	int ok = 0;
	if (!read_list16(ext, len, &list))
		return -1;
	while (list.left > 0) {
		uint16_t group;
		if (!read_u16(&list, &group))
			return -1;
		if (group == 23)	/* secp256r1 */
			ok = 1;
	}
	return ok;
}

static int ciphers_have_ecdhe_ecdsa(const uint8_t *p, size_t len)
{
	if (len % 2)
		return -1;
	for (size_t i = 0; i < len; i += 2) {
		switch (p[i] << 8 | p[i + 1]) {
		case 0xC007: case 0xC009: case 0xC00A: case 0xC023:
		case 0xC02B: case 0xC02C: case 0xCCA9:
			return 1;
		}
	}
	return 0;
}

int sf_tls_hello_wants_rsa(const uint8_t *sigalgs, size_t sigalgs_len, const uint8_t *groups,
			   size_t groups_len, const uint8_t *ciphers, size_t ciphers_len)
{
	int sig = sigalgs ? sigalgs_allow_ecdsa(sigalgs, sigalgs_len) : 1;
	int grp = groups ? groups_have_p256(groups, groups_len) : 1;
	int suite = ciphers_have_ecdhe_ecdsa(ciphers, ciphers_len);
	if (sig < 0 || grp < 0 || suite < 0)
		return -1;
	return !(sig && grp && suite);
}
