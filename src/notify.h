/* systemd's service notifications (sd_notify(3)) for units of Type=notify:
 * ready, alive (the watchdog), stopping. Outside such a unit (no
 * NOTIFY_SOCKET) every call does nothing. */
#ifndef OTPGATE_NOTIFY_H
#define OTPGATE_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

/* READY=1: serving (or draining) has begun. */
void notify_ready(void);
/* STOPPING=1: the service is going away. Only for a unit's main process:
 * systemd takes it for the whole service. */
void notify_stopping(void);
/* WATCHDOG=1: alive. */
void notify_watchdog(void);

/* How often to ping the watchdog, in ms: half of WatchdogSec=, or 0 when
 * the unit has none for this process (sd_watchdog_enabled(3): WATCHDOG_PID,
 * when set, must be this process). With of_parent, a WATCHDOG_PID of the
 * parent counts too: a worker that multiwatch, the unit's main process,
 * started. *limit_ms (may be NULL) gets the whole WatchdogSec=. */
int64_t notify_watchdog_every_ms(bool of_parent, int64_t *limit_ms);

/* For a process whose main loop may sit in a blocking call for good (the
 * worker, in accept()): a thread that pings the watchdog every every_ms
 * while alive() says the process still does its work. Signals are blocked
 * in it: they stay the main thread's. False when it cannot start. */
bool notify_watchdog_thread(int64_t every_ms, bool (*alive)(void));

#endif
