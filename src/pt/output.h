/* The PT -> tor stdout protocol (pt-spec "managed proxy" lines), written as goptlib writes it.
 * Every function writes one whole line to out and flushes it; tests pass an open_memstream
 * FILE*, the program passes stdout. Returns 0, or -1 on a write error or a bad keyword. */
#ifndef SF_PT_OUTPUT_H
#define SF_PT_OUTPUT_H

#include <stddef.h>
#include <stdio.h>

struct sf_pt_args;

/* "<keyword> <arg>...\n". The keyword must be [A-Za-z0-9_-]+ (else nothing is written and -1
 * returned). Arg bytes that goptlib refuses to print (NUL cannot occur in a C string; LF and
 * bytes >= 0x80) are replaced by '?' so a hostile value can never break the line. */
int sf_pt_line(FILE *out, const char *keyword, const char *const *args, size_t nargs);

int sf_pt_version(FILE *out);					/* VERSION 1 */
int sf_pt_version_error(FILE *out, const char *msg);		/* VERSION-ERROR <msg> */
int sf_pt_env_error(FILE *out, const char *msg);		/* ENV-ERROR <msg> */
/* STATUS TYPE=version IMPLEMENTATION=<cstring> VERSION=<cstring> (goptlib ReportVersion) */
int sf_pt_report_version(FILE *out, const char *implementation, const char *version);
/* SMETHOD <name> <addr> ARGS:<encoded args> (args may be NULL: "ARGS:") */
int sf_pt_smethod_args(FILE *out, const char *name, const char *addr,
		       const struct sf_pt_args *args);
int sf_pt_smethod_error(FILE *out, const char *name, const char *msg);	/* SMETHOD-ERROR */
int sf_pt_smethods_done(FILE *out);				/* SMETHODS DONE */

/* goptlib encodeCString: "..." with every byte outside 0x20-0x21, 0x23-0x5b, 0x5d-0x7e as
 * \ + 3 octal digits. malloc'd; NULL when out of memory. */
char *sf_pt_encode_cstring(const char *s);

/* goptlib encodeSmethodArgs: keys sorted bytewise, each value as key=value in insertion order,
 * joined by ','; '\\' '=' ',' escaped with '\\'. malloc'd ("" for NULL/empty args). */
char *sf_pt_encode_smethod_args(const struct sf_pt_args *args);

#endif
