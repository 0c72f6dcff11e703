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
#define HTTP_CONCURRENCY_MAX 64

struct http_state {
  const struct conf *conf;
  CURL *curl; /* kept across sends: its connection to the gateway stays up */
  struct curl_slist *headers;
  CURLM *multi; /* batches: its connection cache stays up across them */
  /* A batch's transfers, made as concurrency asks; 64 is the most
   * [sender] concurrency allows (conf.c). */
  CURL *easy[HTTP_CONCURRENCY_MAX];
};

static void http_close(void *state) {
  struct http_state *h = state;
  if (h == NULL)
    return;
  curl_slist_free_all(h->headers);
  if (h->curl)
    curl_easy_cleanup(h->curl);
  for (size_t i = 0; i < HTTP_CONCURRENCY_MAX; i++)
    if (h->easy[i])
      curl_easy_cleanup(h->easy[i]);
  if (h->multi)
    curl_multi_cleanup(h->multi);
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
  h->multi = curl_multi_init();
  if (h->curl == NULL || h->multi == NULL) {
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

/* One request: what curl needs kept alive while it runs. */
struct http_xfer {
  CURL *easy;
  const struct transport_msg *msg;
  struct transport_result *res;
  char errbuf[CURL_ERROR_SIZE];
  struct http_answer answer;
  char *url, *body;
};

/* Sets x->easy up for x->msg: the URL and body expanded, every option set
 * afresh (the easy handle keeps its connections). */
static void http_setup(const struct http_state *h, struct http_xfer *x) {
  const struct conf *conf = h->conf;
  CURL *c = x->easy;
  char agent[64];

  x->errbuf[0] = '\0';
  x->answer.len = 0;
  x->url = http_expand(c, conf->sender.http_url, x->msg);
  x->body = NULL;
  curl_easy_reset(c);
  snprintf(agent, sizeof agent, "%s/%s", PACKAGE_NAME "-sender",
           PACKAGE_VERSION);
  curl_easy_setopt(c, CURLOPT_URL, x->url);
  curl_easy_setopt(c, CURLOPT_USERAGENT, agent);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, conf->sender.http_timeout_ms);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, x->errbuf);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &x->answer);
  curl_easy_setopt(c, CURLOPT_PRIVATE, x);
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
    x->body = http_expand(c, conf->sender.http_body, x->msg);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, x->body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(x->body));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->headers);
  } else {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  }
}

/* What the finished request x (curl said rc) means for its message; frees
 * what http_setup() made. */
static void http_judge(const struct http_state *h, struct http_xfer *x,
                       CURLcode rc) {
  const struct conf *conf = h->conf;
  const struct transport_msg *msg = x->msg;
  struct transport_result *res = x->res;
  const struct http_answer *answer = &x->answer;

  if (rc != CURLE_OK) {
    long sent_bytes = 0;
    curl_easy_getinfo(x->easy, CURLINFO_REQUEST_SIZE, &sent_bytes);
    bool unsent = http_not_sent(rc) ||
                  (sent_bytes == 0 && rc == CURLE_OPERATION_TIMEDOUT);
    /* errbuf never holds the URL, but the cleaning costs nothing. */
    transport_set_error(res, msg, unsent ? GATEWAY_RETRY : GATEWAY_UNKNOWN,
                        "%s%s", *x->errbuf ? x->errbuf : curl_easy_strerror(rc),
                        unsent ? "" : " (after the request was sent)");
    goto out;
  }

  long status = 0;
  curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
  char said[TRANSPORT_ERROR_MAX];
  size_t line = 0;
  while (line < answer->len && answer->data[line] != '\n' &&
         answer->data[line] != '\r')
    line++;
  transport_clean(msg, answer->data, line, said, sizeof said);
  if (conf_status_in_list(conf->sender.http_sent_statuses, status)) {
    res->status = GATEWAY_SENT;
    transport_clean(msg, answer->data, line, res->ref, sizeof res->ref);
  } else {
    transport_set_error(
        res, msg,
        conf_status_in_list(conf->sender.http_retry_statuses, status)
            ? GATEWAY_RETRY
            : GATEWAY_FAILED,
        "HTTP %ld%s%s", status, *said ? ": " : "", said);
  }
out:
  free(x->url);
  free(x->body);
  x->url = x->body = NULL;
}

static void http_send(void *state, const struct transport_msg *msg,
                      struct transport_result *res) {
  struct http_state *h = state;
  struct http_xfer x = {.easy = h->curl, .msg = msg, .res = res};
  http_setup(h, &x);
  http_judge(h, &x, curl_easy_perform(h->curl));
}

/* Starts the next message that has not expired on the free transfer x;
 * false when none is left. */
static bool http_start_next(struct http_state *h, struct http_xfer *x,
                            const struct transport_msg *msgs,
                            struct transport_result *res, size_t n,
                            size_t *next) {
  while (*next < n) {
    size_t i = (*next)++;
    if (transport_msg_expired(&msgs[i], &res[i]))
      continue;
    x->msg = &msgs[i];
    x->res = &res[i];
    http_setup(h, x);
    if (curl_multi_add_handle(h->multi, x->easy) == CURLM_OK)
      return true;
    /* Never started (out of memory): nothing went out. */
    transport_set_error(x->res, x->msg, GATEWAY_RETRY,
                        "libcurl could not start the request");
    free(x->url);
    free(x->body);
    x->url = x->body = NULL;
  }
  return false;
}

/* Judges every request curl reports done and starts the next message on
 * its handle; returns how many are still in flight. */
static size_t http_reap(struct http_state *h, const struct transport_msg *msgs,
                        struct transport_result *res, size_t n, size_t *next,
                        size_t running) {
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(h->multi, &left)) != NULL) {
    if (m->msg != CURLMSG_DONE)
      continue;
    struct http_xfer *x = NULL;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
    CURLcode rc = m->data.result; /* m is not valid after the removal */
    curl_multi_remove_handle(h->multi, x->easy);
    http_judge(h, x, rc);
    running--;
    if (http_start_next(h, x, msgs, res, n, next))
      running++;
  }
  return running;
}

/* libcurl's multi interface: up to concurrency requests at once over one
 * connection cache. Each request keeps http_timeout_ms; a slow gateway
 * holds one transfer while the others go on, and the batch ends with its
 * last request. */
static void http_send_batch(void *state, const struct transport_msg *msgs,
                            struct transport_result *res, size_t n,
                            size_t concurrency, transport_tick_fn *tick,
                            void *ctx) {
  struct http_state *h = state;
  size_t nx = concurrency < n ? concurrency : n, next = 0, running = 0;
  if (nx > HTTP_CONCURRENCY_MAX)
    nx = HTTP_CONCURRENCY_MAX;
  struct http_xfer *xs = xcalloc(nx, sizeof *xs);

  for (size_t i = 0; i < nx; i++) {
    if (h->easy[i] == NULL && (h->easy[i] = curl_easy_init()) == NULL)
      abort(); /* out of memory */
    xs[i].easy = h->easy[i];
    if (http_start_next(h, &xs[i], msgs, res, n, &next))
      running++;
  }
  while (running > 0) {
    int still = 0;
    if (curl_multi_perform(h->multi, &still) != CURLM_OK)
      break; /* out of memory or a bug: see below */
    running = http_reap(h, msgs, res, n, &next, running);
    if (running > 0)
      curl_multi_poll(h->multi, NULL, 0, 100, NULL);
    tick(ctx);
  }
  /* Only when the multi handle itself failed: whatever is left in flight
   * may have gone out. */
  for (size_t i = 0; i < nx; i++)
    if (xs[i].url != NULL) {
      curl_multi_remove_handle(h->multi, xs[i].easy);
      http_judge(h, &xs[i], CURLE_SEND_ERROR);
    }
  free(xs);
}

const struct transport_ops transport_http_ops = {
    .name = "http",
    .open = http_open,
    .send = http_send,
    .send_batch = http_send_batch,
    .close = http_close,
};
