/* One hexadecimal digit, either case. */
#ifndef SF_LIB_HEX_H
#define SF_LIB_HEX_H

/* The digit's value, or -1 if c is not a hex digit. */
static inline int sf_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif
