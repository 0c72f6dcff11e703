/* The http transport: one libcurl request per SMS to a URL template, such
 * as Kannel's cgi-bin/sendsms. {to}, {text} and {id} in the URL and the
 * body are replaced, URL-encoded. The configured status lists say which
 * answers mean sent and which mean try again; any other is a failure.
 *
 * Whether a failed request may have reached the gateway decides between
 * RETRY and UNKNOWN: if nothing was sent (no connection, TLS refused), the
 * message surely did not go; once the request is out, a timeout or a
 * dropped connection leaves the outcome unknown. */
#include "config.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "conf.h"
#include "transport.h"
#include "util.h"

#define HTTP_BODY_MAX 4096

struct http_state {
  const struct conf *conf;
  CURL *curl; /* kept across sends: its connection to the gateway stays up */
  struct curl_slist *headers;
};

static void http_close(void *state) {
  struct http_state *h = state;
  if (h == NULL)
    return;
  curl_slist_free_all(h->headers);
  if (h->curl)
    curl_easy_cleanup(h->curl);
  free(h);
  curl_global_cleanup();
}

static void *http_open(const struct conf *conf, char *err, size_t errsz) {
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    snprintf(err, errsz, "libcurl failed to initialise");
    return NULL;
  }
  struct http_state *h = xcalloc(1, sizeof *h);
  h->conf = conf;
  h->curl = curl_easy_init();
  if (h->curl == NULL) {
    snprintf(err, errsz, "libcurl failed to initialise");
    http_close(h);
    return NULL;
  }
  char *ct = xasprintf("Content-Type: %s", conf->sender.http_content_type);
  h->headers = curl_slist_append(NULL, ct);
  free(ct);
  return h;
}

/* The template with {to}, {text} and {id} replaced, URL-encoded. Other
 * braces are left alone. */
static char *http_expand(CURL *curl, const char *tpl,
                         const struct transport_msg *msg) {
  struct buf b = {0};
  char id[32];
  snprintf(id, sizeof id, "%" PRId64, msg->id);
  static const char *const names[] = {"{to}", "{text}", "{id}"};
  const char *values[] = {msg->destination, msg->text, id};

  for (const char *p = tpl; *p;) {
    size_t i;
    for (i = 0; i < 3; i++)
      if (strncmp(p, names[i], strlen(names[i])) == 0)
        break;
    if (i == 3) {
      buf_append(&b, p++, 1);
      continue;
    }
    char *esc = curl_easy_escape(curl, values[i], 0);
    if (esc == NULL)
      abort(); /* out of memory */
    buf_appends(&b, esc);
    curl_free(esc);
    p += strlen(names[i]);
  }
  return b.data ? b.data : xstrdup("");
}

struct http_answer {
  char data[HTTP_BODY_MAX];
  size_t len;
};

/* Keeps the first HTTP_BODY_MAX bytes of the answer, drops the rest. */
static size_t http_collect(char *ptr, size_t size, size_t nmemb, void *ud) {
  struct http_answer *a = ud;
  size_t n = size * nmemb, keep = sizeof a->data - a->len;
  if (n < keep)
    keep = n;
  memcpy(a->data + a->len, ptr, keep);
  a->len += keep;
  return n;
}

/* curl's errors where the request never left: the gateway has not seen
 * the message. */
static bool http_not_sent(CURLcode rc) {
  switch (rc) {
  case CURLE_UNSUPPORTED_PROTOCOL:
  case CURLE_URL_MALFORMAT:
  case CURLE_COULDNT_RESOLVE_PROXY:
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_CONNECT:
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ENGINE_NOTFOUND:
  case CURLE_SSL_ENGINE_SETFAILED:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
    return true;
  default:
    return false;
  }
}

static void http_send(void *state, const struct transport_msg *msg,
                      struct transport_result *res) {
  struct http_state *h = state;
  const struct conf *conf = h->conf;
  CURL *c = h->curl;
  char errbuf[CURL_ERROR_SIZE] = "";
  struct http_answer answer = {.len = 0};
  char *url = http_expand(c, conf->sender.http_url, msg);
  char *body = NULL;
  char agent[64];

  /* Reset the options, keep the connection cache. */
  curl_easy_reset(c);
  snprintf(agent, sizeof agent, "%s/%s", PACKAGE_NAME "-sender",
           PACKAGE_VERSION);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_USERAGENT, agent);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, conf->sender.http_timeout_ms);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER,
                   conf->sender.http_verify_tls ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST,
                   conf->sender.http_verify_tls ? 2L : 0L);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 */
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(c, CURLOPT_PROTOCOLS,
                   (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  if (conf->sender.http_method == HTTP_POST) {
    body = http_expand(c, conf->sender.http_body, msg);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->headers);
  } else {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  }

  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    long sent_bytes = 0;
    curl_easy_getinfo(c, CURLINFO_REQUEST_SIZE, &sent_bytes);
    bool unsent = http_not_sent(rc) ||
                  (sent_bytes == 0 && rc == CURLE_OPERATION_TIMEDOUT);
    /* errbuf never holds the URL, but the cleaning costs nothing. */
    transport_set_error(res, msg, unsent ? GATEWAY_RETRY : GATEWAY_UNKNOWN,
                        "%s%s", *errbuf ? errbuf : curl_easy_strerror(rc),
                        unsent ? "" : " (after the request was sent)");
    goto out;
  }

  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  char said[TRANSPORT_ERROR_MAX];
  size_t line = 0;
  while (line < answer.len && answer.data[line] != '\n' &&
         answer.data[line] != '\r')
    line++;
  transport_clean(msg, answer.data, line, said, sizeof said);
  if (conf_status_in_list(conf->sender.http_sent_statuses, status)) {
    res->status = GATEWAY_SENT;
    transport_clean(msg, answer.data, line, res->ref, sizeof res->ref);
  } else {
    transport_set_error(
        res, msg,
        conf_status_in_list(conf->sender.http_retry_statuses, status)
            ? GATEWAY_RETRY
            : GATEWAY_FAILED,
        "HTTP %ld%s%s", status, *said ? ": " : "", said);
  }
out:
  free(url);
  free(body);
}

const struct transport_ops transport_http_ops = {
    .name = "http",
    .open = http_open,
    .send = http_send,
    .close = http_close,
};
