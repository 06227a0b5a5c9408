// The raw libzmq baseline of zbench, written in C as libzmq's own local_thr/remote_thr are:
// the physical limit that the generated Swift daemons are compared against.
//
// The receiving side binds (as the generated daemons under test do) and the load generator
// connects, so the C receiver and the Swift receiver face exactly the same sender.
#ifndef ZGEN_CZBENCH_H
#define ZGEN_CZBENCH_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The most parts a benchmark message has.
#define ZB_MAX_PARTS 8

/// A load generator running on its own thread: a PUSH or XPUB sender, or a REP echo server.
typedef struct zb_peer zb_peer;

/// Starts a sender thread that connects to `endpoints` and sends `count` messages of `parts`
/// parts, of `sizes[i]` bytes each (filled with 'x': valid ASCII for string frames). With
/// `publish` 0 it is one PUSH socket; otherwise an XPUB that first waits until each endpoint's
/// subscriber has subscribed (no slow-joiner loss), then publishes. `hwm` is its SNDHWM (0 =
/// unlimited: the throughput runs measure the receiver, never a blocked sender). Returns NULL
/// and sets errno on failure.
zb_peer *zb_start_sender(void *ctx, const char *const *endpoints, int endpoint_count, const size_t *sizes,
                         int parts, long count, int publish, int hwm);

/// Sends `count` messages of `parts` parts (`sizes[i]` bytes each) on `socket` with zmq_send,
/// as a C program sends from its own buffers. Returns the seconds it took, or -1.
double zb_send_loop(void *socket, const size_t *sizes, int parts, long count);

/// Starts a REP echo server that connects to `endpoint` and answers `count` requests; with
/// `status` nonzero each reply starts with zgen's `ok` status frame (for a generated REQ).
zb_peer *zb_start_echo(void *ctx, const char *endpoint, long count, int status);

/// Waits for the peer's thread to finish and frees it. Returns 0, or -1 if the thread failed.
int zb_join(zb_peer *peer);

/// Opens the C receiver: a PULL (or, with `subscribe` set, a SUB subscribed to everything) bound
/// to `endpoint`; writes the bound endpoint into `bound`. Returns the socket or NULL.
void *zb_open_receiver(void *ctx, const char *endpoint, int subscribe, char *bound, size_t bound_len);

/// Receives `count` messages (of any number of parts) with zmq_msg_recv on `socket`, reading
/// each part's size and first byte, then closes it. Returns the seconds from the first message
/// to the last, or a negative value on failure.
double zb_run_receiver(void *socket, long count);

/// Runs `count` receives on each of `sockets` (from zb_open_receiver), one thread each. Returns
/// the longest first-to-last time among them, or negative on failure. Closes the sockets.
double zb_run_receivers(void *const *sockets, int socket_count, long count);

/// Opens the C REQ client bound to `endpoint`; writes the bound endpoint into `bound`.
void *zb_open_requester(void *ctx, const char *endpoint, char *bound, size_t bound_len);

/// `count` round trips of `size`-byte messages on `socket`, then closes it; writes each round
/// trip's duration in microseconds to `samples` (capacity `count`). Returns 0 or -1.
int zb_run_requester(void *socket, size_t size, long count, double *samples);

/// A monotonic clock in seconds.
double zb_now(void);

#ifdef __cplusplus
}
#endif

#endif
