/* libFuzzer harness: the configuration parser and its checks. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[512];
  char *text = malloc(size + 1);
  memcpy(text, data, size);
  text[size] = '\0';
  struct conf *c = conf_load_string(text, "fuzz.conf", err, sizeof err);
  /* Either a configuration, or one line naming the file. */
  if (c == NULL && (strncmp(err, "fuzz.conf", 9) != 0 || strchr(err, '\n')))
    abort();
  conf_free(c);
  free(text);
  return 0;
}
