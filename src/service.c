/* What the methods share. */
#include "config.h"

#include "conf.h"
#include "service.h"

const struct secret_key *service_key(struct service *svc, int64_t id) {
  return secret_find_or_reload(&svc->keys, svc->conf->otp.secret_file, id);
}
