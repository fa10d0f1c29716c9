/*
 * The benchmark's floor: the least an exec'd CNI plugin can do. It reads its stdin (the network
 * configuration) to the end and exits 0. Linked statically (make bench), so its cost is fork,
 * exec and exit with no dynamic loader: what no plugin can beat.
 */
#include <unistd.h>

int main(void)
{
	char buf[4096];

	for (;;)
		if (read(0, buf, sizeof(buf)) <= 0)
			break;
	return 0;
}
