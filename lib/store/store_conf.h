/*
 * store_conf: where counters live, [store] and [memcached]. Plain types
 * only: lib/conf/config.h embeds this.
 */
#ifndef CG_STORE_CONF_H
#define CG_STORE_CONF_H

#include "conf/conf.h"

typedef enum {
    CG_STORE_MEMCACHED = 0,
    CG_STORE_LOCAL              /* a file shared by this host's processes */
} cg_store_type_t;

typedef struct {
    int     type;               /* cg_store_type_t */
    char   *path;
    int     slots;
    char   *ledger;             /* lease ledger file; "": see store_conf.c */
    int     hosts;              /* gateway hosts sharing the store */
} cg_store_conf_t;

typedef struct {
    char   *servers;
    int     timeout_ms;
} cg_memcached_conf_t;

/* "memcached" or "local", for messages. */
const char *cg_store_type_name(int type);

extern const cg_conf_section_t cg_store_conf_section;
extern const cg_conf_section_t cg_memcached_conf_section;

#endif
