/*
 * wflow-torture: the reliability harnesses (crash, faults, fscrash, load),
 * one program built with the tests. Each subcommand parses its own
 * arguments (argv[0] is the subcommand's name), prints its figures as
 * name=value lines last, and returns 0 when nothing was lost, 1 when a
 * check failed, 2 on a usage or setup error.
 */
#ifndef WF_TORTURE_H
#define WF_TORTURE_H

int torture_crash(int argc, char **argv);
int torture_faults(int argc, char **argv);
int torture_fscrash(int argc, char **argv);
int torture_load(int argc, char **argv);

#endif
