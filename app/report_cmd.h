/*
 * report: the `chatgate report` command. Reads usage logs (plain, rotated
 * and gzipped), feeds lib/log/report.c and prints the result. Never needs the
 * secrets: only the price table and the usage log path from the config.
 */
#ifndef CG_REPORT_CMD_H
#define CG_REPORT_CMD_H

/* argv[0] is "report"; returns the process exit code. */
int cg_report_main(int argc, char **argv);

#endif
