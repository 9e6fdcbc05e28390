/* CRC32C (Castagnoli, the iSCSI/ext4 checksum): the store's guard against damaged rows and
 * values. The SSE4.2 instruction computes it at about 8 bytes a cycle where the CPU has it
 * (checked at run time, not by the build's flags); elsewhere a table does, 8 bytes a step. */
#ifndef RILL_CRC32C_H
#define RILL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends crc (0 to start) over n bytes; standard CRC32C ("123456789" gives 0xe3069283). */
uint32_t rill_crc32c(uint32_t crc, const void *p, size_t n);
/* The table implementation whatever the CPU has, for tests to compare against. */
uint32_t rill_crc32c_portable(uint32_t crc, const void *p, size_t n);
/* Which implementation runs: "sse4.2" or "table". */
const char *rill_crc32c_impl(void);

#endif
