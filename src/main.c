#include "lib/log.h"

int main(void)
{
	sf_logf("snowflake-server %s", SF_VERSION);
	return 0;
}
