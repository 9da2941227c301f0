#include "core/csv.h"

#include <string.h>


int
cg_csv_next(const char **p, const char **item, size_t *len)
{
    const char *s = *p, *end;

    for (;;) {
        while (*s == ' ' || *s == '\t' || *s == ',') {
            s++;
        }
        if (*s == '\0') {
            *p = s;
            return 0;
        }
        end = strchr(s, ',');
        end = end ? end : s + strlen(s);
        *p = end;
        while (end > s && (end[-1] == ' ' || end[-1] == '\t')) {
            end--;
        }
        *item = s;
        *len = (size_t) (end - s);
        return 1;
    }
}


int
cg_csv_has(const char *list, const char *s, size_t n)
{
    const char *item;
    size_t      len;

    while (list && cg_csv_next(&list, &item, &len)) {
        if (len == n && memcmp(item, s, n) == 0) {
            return 1;
        }
    }
    return 0;
}
