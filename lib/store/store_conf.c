#include "conf/config.h"

#define CG_OFF(field)  offsetof(cg_store_conf_t, field)

static const cg_conf_enum_t cg_store_types[] = {
    { "memcached", CG_STORE_MEMCACHED }, { "local", CG_STORE_LOCAL },
    { NULL, 0 }
};

static const cg_conf_cmd_t cg_store_cmds[] = {
    { "store", "type", cg_conf_set_enum, CG_OFF(type),
      "memcached", 0, 0,
      "where counters live: memcached, or local (a file shared by the "
      "processes of this host)", NULL, cg_store_types },
    { "store", "path", cg_conf_set_str, CG_OFF(path),
      "/var/lib/chatgate/counters", 0, 0, "file of the local store" },
    { "store", "slots", cg_conf_set_int, CG_OFF(slots),
      "65536", 64, 16777216, "counters the local store can hold" },
    { "store", "ledger", cg_conf_set_str, CG_OFF(ledger), "", 0, 0,
      "file of the host's lease ledger, shared by its processes (leases "
      "on: [budget] lease_requests); empty: with type = local the store's "
      "own file, with memcached a ledger private to each worker" },
    { "store", "hosts", cg_conf_set_int, CG_OFF(hosts), "1", 1, 10000,
      "gateway hosts that share the store: a lease takes at most a "
      "quarter of a cap's headroom divided among them" },
    { NULL, NULL, NULL, 0, NULL, 0, 0, NULL }
};

#undef CG_OFF
#define CG_OFF(field)  offsetof(cg_memcached_conf_t, field)

static const cg_conf_cmd_t cg_memcached_cmds[] = {
    { "memcached", "servers", cg_conf_set_str, CG_OFF(servers),
      "127.0.0.1:11211", 0, 0,
      "comma-separated memcached servers (HOST:PORT or /socket/path)" },
    { "memcached", "timeout_ms", cg_conf_set_int, CG_OFF(timeout_ms),
      "50", 1, 10000, "connect and I/O timeout for memcached" },
    { NULL, NULL, NULL, 0, NULL, 0, 0, NULL }
};


const char *
cg_store_type_name(int type)
{
    return cg_conf_enum_name(cg_store_types, type);
}


const cg_conf_section_t cg_store_conf_section = {
    .name = "store", .cmds = cg_store_cmds,
    .offset = offsetof(cg_conf_t, store),
};

const cg_conf_section_t cg_memcached_conf_section = {
    .name = "memcached", .cmds = cg_memcached_cmds,
    .offset = offsetof(cg_conf_t, memcached),
};
