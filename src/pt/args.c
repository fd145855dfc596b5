#include "pt/args.h"

#include "pt/gostr.h"

#include <stdlib.h>
#include <string.h>

struct sf_pt_args *sf_pt_args_new(void)
{
	return calloc(1, sizeof(struct sf_pt_args));
}

void sf_pt_args_free(struct sf_pt_args *args)
{
	if (!args)
		return;
	for (size_t i = 0; i < args->n; i++) {
		struct sf_pt_arg *a = &args->v[i];
		for (size_t j = 0; j < a->n_values; j++)
			free(a->values[j]);
		free(a->values);
		free(a->key);
	}
	free(args->v);
	free(args);
}

const struct sf_pt_arg *sf_pt_args_find(const struct sf_pt_args *args, const char *key)
{
	if (!args)
		return NULL;
	for (size_t i = 0; i < args->n; i++)
		if (strcmp(args->v[i].key, key) == 0)
			return &args->v[i];
	return NULL;
}

const char *sf_pt_args_get(const struct sf_pt_args *args, const char *key)
{
	const struct sf_pt_arg *a = sf_pt_args_find(args, key);
	if (!a || a->n_values == 0)
		return NULL;
	return a->values[0];
}

int sf_pt_args_add(struct sf_pt_args *args, const char *key, const char *value)
{
	struct sf_pt_arg *a = (struct sf_pt_arg *)sf_pt_args_find(args, key);
	char *val = strdup(value);
	if (!val)
		return -1;

	if (!a) {
		char *k = strdup(key);
		struct sf_pt_arg *v = sf_pt_grow(args->v, args->n, sizeof *v);
		if (!k || !v) {
			free(k);
			free(val);
			if (v)
				args->v = v;
			return -1;
		}
		args->v = v;
		a = &v[args->n++];
		a->key = k;
		a->values = NULL;
		a->n_values = 0;
	}
	char **vals = sf_pt_grow(a->values, a->n_values, sizeof *vals);
	if (!vals) {
		free(val);
		return -1;
	}
	a->values = vals;
	a->values[a->n_values++] = val;
	return 0;
}
