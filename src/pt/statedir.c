#include "lib/err.h"
#include "pt/env.h"
#include "pt/gostr.h"
#include "pt/output.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Go's PathError text: "mkdir <path>: <errno>", Go spelling errno texts in lower case. */
/* Go's PathError text: "mkdir <path>: <strerror, first letter lower case>". */
static int mkdir_error(char *err, size_t errlen, const char *path, size_t len, int e)
{
	char reason[128];

	snprintf(reason, sizeof reason, "%s", strerror(e));
	reason[0] = (char)tolower((unsigned char)reason[0]);
	return sf_err(err, errlen, "mkdir %.*s: %s", (int)len, path, reason);
}

/* Length of Go MkdirAll's parent of path[0..len): trailing slashes, then the last element,
 * are dropped; the slash before that element is not part of the parent. */
static size_t parent_len(const char *path, size_t len)
{
	size_t i = len;
	while (i > 0 && path[i - 1] == '/')
		i--;
	while (i > 0 && path[i - 1] != '/')
		i--;
	return i > 0 ? i - 1 : 0;
}

static bool is_dir(const char *path, bool follow)
{
	struct stat st;
	int rc = follow ? stat(path, &st) : lstat(path, &st);
	return rc == 0 && S_ISDIR(st.st_mode);
}

/* os.MkdirAll(path, 0700), iteratively: every parent is a prefix of path. Returns 0 or an
 * errno (with *at_len the prefix it failed on). */
static int mkdir_all(char *path, size_t len, size_t *at_len)
{
	size_t *chain = malloc((len + 1) * sizeof *chain);
	size_t n = 0;
	int rc = 0;

	if (!chain) {
		*at_len = len;
		return ENOMEM;
	}
	/* Walk up until something exists (Go's Stat fast path) or no parent is left. */
	for (size_t cur = len;;) {
		struct stat st;
		char saved = path[cur];
		path[cur] = '\0';
		int found = stat(path, &st);
		path[cur] = saved;
		if (found == 0) {
			if (!S_ISDIR(st.st_mode)) {
				*at_len = cur;
				rc = ENOTDIR;
				goto out;
			}
			break;
		}
		chain[n++] = cur;
		size_t parent = parent_len(path, cur);
		if (parent == 0)
			break;
		cur = parent;
	}
	/* Create from the outermost missing directory down. */
	while (n > 0) {
		size_t cur = chain[--n];
		char saved = path[cur];
		path[cur] = '\0';
		if (mkdir(path, 0700) < 0) {
			int e = errno;
			if (!is_dir(path, false)) {
				path[cur] = saved;
				*at_len = cur;
				rc = e;
				goto out;
			}
		}
		path[cur] = saved;
	}
out:
	free(chain);
	return rc;
}

int sf_pt_make_state_dir(sf_pt_getenv_fn getenv_fn, void *arg, FILE *out, char **dir,
			 char *err, size_t errlen)
{
	const char *value = getenv_fn("TOR_PT_STATE_LOCATION", arg);
	static const char msg[] = "no TOR_PT_STATE_LOCATION environment variable";

	*dir = NULL;
	if (errlen > 0)
		err[0] = '\0';
	if (!value || !*value) {
		sf_pt_env_error(out, msg);
		return sf_err(err, errlen, "ENV-ERROR %s", msg);
	}
	char *path = strdup(value);
	if (!path)
		return sf_err(err, errlen, "out of memory");
	size_t at_len = 0;
	int e = mkdir_all(path, strlen(path), &at_len);
	if (e != 0) {
		mkdir_error(err, errlen, path, at_len, e);
		free(path);
		return -1;
	}
	*dir = path;
	return 0;
}

char *sf_pt_path_join(const char *dir, const char *name)
{
	struct sf_strbuf joined = {0};

	/* filepath.Join ignores empty elements, then cleans. */
	if (*dir)
		sf_strbuf_add(&joined, dir);
	if (*name) {
		if (joined.len)
			sf_strbuf_addc(&joined, '/');
		sf_strbuf_add(&joined, name);
	}
	if (joined.len == 0) {
		sf_strbuf_free(&joined);
		return strdup("");
	}
	if (joined.failed) {
		sf_strbuf_free(&joined);
		return NULL;
	}

	/* filepath.Clean: drop empty and "." elements, fold "x/..", keep leading ".." when
	 * relative, drop ".." at the root. */
	const char *s = joined.data;
	size_t n = joined.len;
	bool rooted = s[0] == '/';
	char *out = malloc(n + 2);
	if (!out) {
		sf_strbuf_free(&joined);
		return NULL;
	}
	size_t w = 0, dotdot = 0;
	if (rooted) {
		out[w++] = '/';
		dotdot = 1;
	}
	for (size_t r = 0; r < n;) {
		if (s[r] == '/') {
			r++;
		} else if (s[r] == '.' && (r + 1 == n || s[r + 1] == '/')) {
			r++;
		} else if (s[r] == '.' && s[r + 1] == '.' && (r + 2 == n || s[r + 2] == '/')) {
			r += 2;
			if (w > dotdot) {
				w--;
				while (w > dotdot && out[w] != '/')
					w--;
			} else if (!rooted) {
				if (w > 0)
					out[w++] = '/';
				out[w++] = '.';
				out[w++] = '.';
				dotdot = w;
			}
		} else {
			if ((rooted && w != 1) || (!rooted && w != 0))
				out[w++] = '/';
			while (r < n && s[r] != '/')
				out[w++] = s[r++];
		}
	}
	if (w == 0)
		out[w++] = '.';
	out[w] = '\0';
	sf_strbuf_free(&joined);
	return out;
}
