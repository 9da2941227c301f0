/*
 * audit: `chatgate audit [-c FILE] [--json]`, the report of who and what
 * can reach the provider keys (see docs/keys.md for each finding). It reads
 * the config and the key files and changes nothing; keys are shown by name
 * and fingerprint only.
 */
#ifndef CG_AUDIT_H
#define CG_AUDIT_H

/* Prints the report; returns the exit status (3: a high finding). */
int cg_audit_run(const char *path, int json);

#endif
