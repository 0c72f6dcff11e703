/* libFuzzer harness: SMS composition. Input: template, NUL, token. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char why[256];
  char *copy = malloc(size + 2);
  memcpy(copy, data, size);
  copy[size] = copy[size + 1] = '\0';
  const char *tpl = copy, *token = copy + strlen(copy) + 1;
  if (token > copy + size)
    token = "AB12345678C";
  struct buf out = {0};
  size_t off = 0;
  if (sms_check_template(tpl, 6, 5, why, sizeof why)) {
    if (sms_compose(tpl, "123456", 5, token, data[0] & 1, &out, &off, why,
                    sizeof why)) {
      /* The code sits where the offset says, and the text fits. */
      if (off + 6 > out.len || memcmp(out.data + off, "123456", 6) != 0)
        abort();
      if (!sms_fits(out.data, why, sizeof why))
        abort();
    }
  }
  buf_free(&out);
  free(copy);
  return 0;
}
