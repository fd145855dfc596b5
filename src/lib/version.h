/* The program's version as upstream prints it ("2.11.0", or "2.11.0 (1a2b3c4d)" from a git tree),
 * defined in a file cmake/version.cmake writes at every build: only the program links it. */
#ifndef SF_LIB_VERSION_H
#define SF_LIB_VERSION_H

extern const char sf_version[];

#endif
