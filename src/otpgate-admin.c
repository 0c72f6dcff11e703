#include "config.h"

#include <stdio.h>

#include <sodium.h>

#include "admin.h"

int main(int argc, char **argv) {
  if (sodium_init() < 0) {
    fputs("otpgate-admin: libsodium failed to initialise\n", stderr);
    return 1;
  }
  return admin_main(argc, argv, stdout, stderr);
}
