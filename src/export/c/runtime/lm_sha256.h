/* SHA-256 (FIPS 180-4), for the weights digest that `lastmile adapt --json` reports. */
#ifndef LM_SHA256_H
#define LM_SHA256_H

#include <stdint.h>

typedef struct {
  uint32_t state[8];
  uint64_t length;
  uint8_t block[64];
  uint32_t used;
} lm_sha256;

void lm_sha256_init(lm_sha256 *h);
void lm_sha256_update(lm_sha256 *h, const void *data, uint32_t bytes);
/* Writes the digest as 64 lowercase hex characters and a terminating NUL. */
void lm_sha256_hex(lm_sha256 *h, char out[65]);

#endif
