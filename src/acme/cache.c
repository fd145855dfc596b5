#include "acme/cache.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acme/pem.h"

#define ACCOUNT_KEY "acme_account+key"
#define ACCOUNT_KEY_LEGACY "acme_account.key"

const char *sf_acme_cache_key(const char *name, enum sf_acme_cert_kind kind, char *out, size_t cap)
{
	const char *suffix = kind == SF_ACME_CERT_RSA ? "+rsa" : kind == SF_ACME_CERT_TOKEN ? "+token" : "";
	int n = snprintf(out, cap, "%s%s", name, suffix);
	return n < 0 || (size_t)n >= cap ? NULL : out;
}

static bool key_ok(const char *key)
{
	size_t n = strlen(key);
	if (n == 0 || n > SF_ACME_CACHE_KEY_MAX || strcmp(key, ".") == 0 || strcmp(key, "..") == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)key[i];
		if (c < 0x20 || c == 0x7f || c == '/' || c == '\\')
			return false;
	}
	return true;
}

static int key_path(const char *dir, const char *key, char *path, size_t cap, char *err, size_t errlen)
{
	if (!key_ok(key)) {
		snprintf(err, errlen, "acme cache: invalid key %.64s", key);
		return -1;
	}
	int n = snprintf(path, cap, "%s/%s", dir, key);
	if (n < 0 || (size_t)n >= cap) {
		snprintf(err, errlen, "acme cache: path too long");
		return -1;
	}
	return 0;
}

int sf_acme_cache_get(const char *dir, const char *key, char **data, size_t *len, char *err,
		      size_t errlen)
{
	char path[PATH_MAX];
	if (key_path(dir, key, path, sizeof path, err, errlen))
		return -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			return SF_ACME_CACHE_MISS;
		snprintf(err, errlen, "open %s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > SF_ACME_CACHE_FILE_MAX) {
		snprintf(err, errlen, "acme cache: %s is not a regular file of at most %d bytes", path,
			 SF_ACME_CACHE_FILE_MAX);
		close(fd);
		return -1;
	}
	char *buf = malloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (buf && got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (!buf || got != (size_t)st.st_size) {
		snprintf(err, errlen, "read %s: %s", path, buf ? "short read" : "out of memory");
		free(buf);
		return -1;
	}
	buf[got] = '\0';
	*data = buf;
	*len = got;
	return 0;
}

/* mkdir -p with 0700 for every directory it creates (os.MkdirAll(dir, 0700)). */
static int make_dirs(const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX];
	size_t n = strlen(dir);
	if (n == 0 || n >= sizeof path) {
		snprintf(err, errlen, "acme cache: bad directory name");
		return -1;
	}
	memcpy(path, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		char saved = path[i];
		path[i] = '\0';
		if (mkdir(path, 0700) && errno != EEXIST) {
			snprintf(err, errlen, "mkdir %s: %s", path, strerror(errno));
			return -1;
		}
		path[i] = saved;
	}
	struct stat st;
	if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "mkdir %s: not a directory", dir);
		return -1;
	}
	return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int sf_acme_cache_put(const char *dir, const char *key, const void *data, size_t len, char *err,
		      size_t errlen)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	if (key_path(dir, key, path, sizeof path, err, errlen) || make_dirs(dir, err, errlen))
		return -1;
	int n = snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path);
	if (n < 0 || (size_t)n >= sizeof tmp) {
		snprintf(err, errlen, "acme cache: path too long");
		return -1;
	}
	int fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 */
	if (fd < 0) {
		snprintf(err, errlen, "create %s: %s", tmp, strerror(errno));
		return -1;
	}
	if (fchmod(fd, 0600) || write_all(fd, data, len) || fsync(fd)) {
		snprintf(err, errlen, "write %s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) || rename(tmp, path)) {
		snprintf(err, errlen, "rename %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

int sf_acme_cache_delete(const char *dir, const char *key, char *err, size_t errlen)
{
	char path[PATH_MAX];
	if (key_path(dir, key, path, sizeof path, err, errlen))
		return -1;
	if (unlink(path) && errno != ENOENT) {
		snprintf(err, errlen, "remove %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Go's parsePrivateKey: PKCS#1, PKCS#8 or SEC1, and only RSA or ECDSA keys. */
static EVP_PKEY *parse_private_key(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	EVP_PKEY *key = d2i_AutoPrivateKey(NULL, &p, (long)len);
	if (key && EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA && EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) {
		EVP_PKEY_free(key);
		key = NULL;
	}
	return key;
}

/* The first PEM block, which must be a private key; *pos moves past it. */
static EVP_PKEY *first_private_key(const char *data, size_t len, size_t *pos, char *err, size_t errlen)
{
	char type[64];
	uint8_t *der = NULL;
	size_t der_len;
	if (sf_acme_pem_next(data, len, pos, type, sizeof type, &der, &der_len) != 1 ||
	    !strstr(type, "PRIVATE")) {
		snprintf(err, errlen, "acme/autocert: no private key block first");
		free(der);
		return NULL;
	}
	EVP_PKEY *key = parse_private_key(der, der_len);
	OPENSSL_cleanse(der, der_len);
	free(der);
	if (!key)
		snprintf(err, errlen, "acme/autocert: failed to parse private key");
	return key;
}

int sf_acme_cache_read_account_key(const char *dir, EVP_PKEY **key, char *err, size_t errlen)
{
	char *data = NULL;
	size_t len, pos = 0;
	int rc = sf_acme_cache_get(dir, ACCOUNT_KEY, &data, &len, err, errlen);
	if (rc == SF_ACME_CACHE_MISS)
		rc = sf_acme_cache_get(dir, ACCOUNT_KEY_LEGACY, &data, &len, err, errlen);
	if (rc)
		return rc;
	*key = first_private_key(data, len, &pos, err, errlen);
	OPENSSL_cleanse(data, len);
	free(data);
	return *key ? 0 : -1;
}

/* i2d_PrivateKey writes the type-specific form: SEC1 for EC, PKCS#1 for RSA (as Go's
 * MarshalECPrivateKey / MarshalPKCS1PrivateKey). */
static int append_private_key(struct sf_strbuf *b, EVP_PKEY *key)
{
	int id = EVP_PKEY_get_base_id(key);
	if (id != EVP_PKEY_EC && id != EVP_PKEY_RSA)
		return -1;
	unsigned char *der = NULL;
	int n = i2d_PrivateKey(key, &der);
	if (n <= 0)
		return -1;
	int rc = sf_acme_pem_append(b, id == EVP_PKEY_EC ? "EC PRIVATE KEY" : "RSA PRIVATE KEY", der,
				    (size_t)n);
	OPENSSL_clear_free(der, (size_t)n);
	return rc;
}

int sf_acme_cache_write_account_key(const char *dir, EVP_PKEY *key, char *err, size_t errlen)
{
	struct sf_strbuf b;
	sf_strbuf_init(&b, SF_ACME_CACHE_FILE_MAX);
	int rc = append_private_key(&b, key);
	if (rc)
		snprintf(err, errlen, "acme cache: cannot encode the account key");
	else
		rc = sf_acme_cache_put(dir, ACCOUNT_KEY, b.data, b.len, err, errlen);
	if (b.data)
		OPENSSL_cleanse(b.data, b.len);
	sf_strbuf_free(&b);
	return rc;
}

int sf_acme_cert_to_pem(const struct sf_acme_cert *c, char **out, size_t *len)
{
	struct sf_strbuf b;
	sf_strbuf_init(&b, SF_ACME_CACHE_FILE_MAX);
	int rc = append_private_key(&b, c->key);
	for (int i = 0; !rc && i < sk_X509_num(c->chain); i++) {
		unsigned char *der = NULL;
		int n = i2d_X509(sk_X509_value(c->chain, i), &der);
		rc = n > 0 ? sf_acme_pem_append(&b, "CERTIFICATE", der, (size_t)n) : -1;
		OPENSSL_free(der);
	}
	if (rc || !b.data) {
		if (b.data)
			OPENSSL_cleanse(b.data, b.len);
		sf_strbuf_free(&b);
		return -1;
	}
	*out = b.data;
	*len = b.len;
	return 0;
}

int sf_acme_cert_from_pem(const char *data, size_t len, struct sf_acme_cert **out, char *err,
			  size_t errlen)
{
	size_t pos = 0;
	EVP_PKEY *key = first_private_key(data, len, &pos, err, errlen);
	if (!key)
		return -1;
	STACK_OF(X509) *chain = sk_X509_new_null();
	char type[64];
	uint8_t *der;
	size_t der_len;
	int r = 0;
	while (chain && pos < len && (r = sf_acme_pem_next(data, len, &pos, type, sizeof type, &der, &der_len)) == 1) {
		/* autocert parses every block after the key as a certificate, whatever its type */
		const unsigned char *p = der;
		X509 *x = d2i_X509(NULL, &p, (long)der_len);
		bool whole = x && p == der + der_len;
		free(der);
		if (!whole || !sk_X509_push(chain, x)) {
			X509_free(x);
			snprintf(err, errlen, "acme/autocert: no public key found");
			goto fail;
		}
	}
	if (!chain || r < 0) {
		snprintf(err, errlen, "acme cache: out of memory");
		goto fail;
	}
	if (pos < len) {
		snprintf(err, errlen, "acme/autocert: leftover content after the PEM blocks");
		goto fail;
	}
	if (sk_X509_num(chain) == 0) {
		snprintf(err, errlen, "acme/autocert: no public key found");
		goto fail;
	}
	*out = sf_acme_cert_new(key, chain);
	if (*out)
		return 0;
	snprintf(err, errlen, "acme/autocert: unreadable certificate dates");
fail:
	sk_X509_pop_free(chain, X509_free);
	EVP_PKEY_free(key);
	return -1;
}

int sf_acme_cache_read_cert(const char *dir, const char *name, enum sf_acme_cert_kind kind,
			    time_t now, struct sf_acme_cert **out, char *err, size_t errlen)
{
	char key[SF_ACME_CACHE_KEY_MAX + 16];
	if (!sf_acme_cache_key(name, kind, key, sizeof key)) {
		snprintf(err, errlen, "acme cache: name too long");
		return -1;
	}
	char *data = NULL;
	size_t len;
	int rc = sf_acme_cache_get(dir, key, &data, &len, err, errlen);
	if (rc)
		return rc;
	struct sf_acme_cert *c = NULL;
	rc = sf_acme_cert_from_pem(data, len, &c, err, errlen);
	OPENSSL_cleanse(data, len);
	free(data);
	if (rc == 0 && sf_acme_cert_check(c, name, kind, now, err, errlen)) {
		sf_acme_cert_free(c);
		rc = -1;
	}
	if (rc)
		return SF_ACME_CACHE_MISS;
	*out = c;
	return 0;
}

int sf_acme_cache_write_cert(const char *dir, const char *name, enum sf_acme_cert_kind kind,
			     const struct sf_acme_cert *c, char *err, size_t errlen)
{
	char key[SF_ACME_CACHE_KEY_MAX + 16];
	char *pem;
	size_t len;
	if (!sf_acme_cache_key(name, kind, key, sizeof key)) {
		snprintf(err, errlen, "acme cache: name too long");
		return -1;
	}
	if (sf_acme_cert_to_pem(c, &pem, &len)) {
		snprintf(err, errlen, "acme cache: cannot encode the certificate of %s", name);
		return -1;
	}
	int rc = sf_acme_cache_put(dir, key, pem, len, err, errlen);
	OPENSSL_cleanse(pem, len);
	free(pem);
	return rc;
}
