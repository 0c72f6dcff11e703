/* libFuzzer harness: request bytes in, answer out, through api_handle(),
 * the same pipeline the worker drives. The first byte picks the method. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "admin.h"
#include "api.h"
#include "conf.h"
#include "util.h"

static struct api api;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  static char dir[] = "/tmp/otpgate-fuzz-XXXXXX";
  char err[512];
  (void)argc;
  (void)argv;
  if (sodium_init() < 0 || mkdtemp(dir) == NULL)
    abort();
  char *path = xasprintf("%s/otpgate.conf", dir);
  FILE *f = fopen(path, "w");
  /* No clock window and no sender, so inputs reach the handlers. */
  fprintf(f, "[database]\npath = %s/db\nsynchronous = normal\n"
             "[otp]\nsecret_file = %s/key\nsend_limit = 1000000\n"
             "[api]\ntimestamp_skew_ms = 0\nmetrics_file =\n"
             "[sender]\nheartbeat_max_age_seconds = 0\nwake_socket =\n"
             "[log]\nsyslog = no\nlevel = error\n", dir, dir);
  fclose(f);
  FILE *quiet = fopen("/dev/null", "w");
  char *cmds[][9] = {
      {"a", "-c", path, "init", NULL},
      {"a", "-c", path, "account", "add", "acct-1", "--phone", "+918067218010", NULL},
      {"a", "-c", path, "association", "add", "assoc-1", "acct-1", NULL},
  };
  int argcs[] = {4, 8, 7};
  for (int i = 0; i < 3; i++)
    if (admin_main(argcs[i], cmds[i], quiet, stderr) != 0)
      abort();
  fclose(quiet);
  struct conf *conf = conf_load(path, err, sizeof err);
  if (conf == NULL || !api_init(&api, conf, err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    abort();
  }
  free(path);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *const paths[] = {"/v1/sendOtp", "/v1/verifyOtp", "/v1/echo"};
  struct api_response resp;
  if (size == 0)
    return 0;
  api_handle_buffer(&api, "POST", paths[data[0] % 3], "application/json",
                    (const char *)data + 1, size - 1, &resp);
  /* Every answer is a JSON object with a responseHeader. */
  if (resp.body.data == NULL || strncmp(resp.body.data, "{\"responseHeader\":", 18) != 0)
    abort();
  api_response_free(&resp);
  return 0;
}
