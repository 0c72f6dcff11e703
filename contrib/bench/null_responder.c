/* null-responder: the path ceiling. The least a FastCGI responder can do
 * for a sendOtp: read the body, answer a small JSON body. Built on the
 * same libfcgi calls as otpgate-fcgi, started the same way (listening
 * socket on fd 0, as lighttpd's bin-path gives it), so the web server,
 * the FastCGI round trip and the HTTP load are all that is measured. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <fcgiapp.h>

int main(void) {
  static const char answer[] =
      "{\"responseHeader\":{\"responseTimestamp\":\"1700000000000\"},"
      "\"paymentIntegratorSendOtpId\":\"0123456789abcdef0123456789abcdef\","
      "\"result\":\"SUCCESS\"}";
  char head[256], body[65536];
  FCGX_Request req;
  if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, 0) != 0)
    return 1;
  while (FCGX_Accept_r(&req) >= 0) {
    while (FCGX_GetStr(body, sizeof body, req.in) > 0)
      ;
    int n = snprintf(head, sizeof head,
                     "Status: 200 OK\r\n"
                     "Content-Type: application/json; charset=utf-8\r\n"
                     "Cache-Control: no-store\r\n"
                     "Content-Length: %u\r\n\r\n",
                     (unsigned)(sizeof answer - 1));
    FCGX_PutStr(head, n, req.out);
    FCGX_PutStr(answer, (int)sizeof answer - 1, req.out);
    FCGX_Finish_r(&req);
  }
  return 0;
}
