/* PLACEHOLDER, being written now: replace this whole file. */
#include <stdio.h>
#include "torture/torture.h"
int torture_load(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "wflow-torture load: not written yet\n");
	return 2;
}
