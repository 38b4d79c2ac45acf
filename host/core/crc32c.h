/*
 * crc32c.h - CRC-32C (Castagnoli), the checksum of the store's records.
 *
 * The polynomial of iSCSI, ext4 and Btrfs metadata: it catches every burst
 * error up to 32 bits and all but one in 2^32 of the rest. Computed with
 * the SSE 4.2 instruction where the CPU has it, else eight tables at once.
 */
#ifndef AH_CRC32C_H
#define AH_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The CRC of data[0..n) continuing from crc (0 to start): crc32c(0, "123456789", 9)
 * is 0xe3069283, and crc32c(crc32c(0, a, n), b, m) is the CRC of a then b. */
uint32_t crc32c(uint32_t crc, const void *data, size_t n);
/* The same without the CPU instruction (the tests compare the two). */
uint32_t crc32c_portable(uint32_t crc, const void *data, size_t n);

#endif
