/* PLACEHOLDER, being written now: replace this whole file. */
#include <stdio.h>
#include "torture/torture.h"
int torture_crash(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "wflow-torture crash: not written yet\n");
	return 2;
}
