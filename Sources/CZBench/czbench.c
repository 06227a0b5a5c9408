#include "czbench.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

struct zb_peer {
    pthread_t thread;
    void *socket;
    size_t sizes[ZB_MAX_PARTS];
    int parts;
    long count;
    int subscribers;
    int status;
    int failed;
};

double zb_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void set_int(void *socket, int option, int value) {
    zmq_setsockopt(socket, option, &value, sizeof value);
}

static void *sender_main(void *arg) {
    zb_peer *peer = arg;
    // XPUB: wait until every subscriber is there, so none misses the start (slow joiner).
    for (int seen = 0; seen < peer->subscribers;) {
        zmq_msg_t sub;
        zmq_msg_init(&sub);
        if (zmq_msg_recv(&sub, peer->socket, 0) < 0) {
            zmq_msg_close(&sub);
            if (errno == EINTR) continue;
            peer->failed = 1;
            return NULL;
        }
        if (zmq_msg_size(&sub) > 0 && ((unsigned char *)zmq_msg_data(&sub))[0] == 1) seen++;
        zmq_msg_close(&sub);
    }
    for (long i = 0; i < peer->count; i++) {
        for (int part = 0; part < peer->parts; part++) {
            zmq_msg_t msg;
            zmq_msg_init_size(&msg, peer->sizes[part]);
            memset(zmq_msg_data(&msg), 'x', peer->sizes[part]);
            int flags = part < peer->parts - 1 ? ZMQ_SNDMORE : 0;
            while (zmq_msg_send(&msg, peer->socket, flags) < 0) {
                if (errno != EINTR) {
                    zmq_msg_close(&msg);
                    peer->failed = 1;
                    return NULL;
                }
            }
        }
    }
    return NULL;
}

static void *echo_main(void *arg) {
    zb_peer *peer = arg;
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    for (long i = 0; i < peer->count;) {
        if (zmq_msg_recv(&msg, peer->socket, 0) < 0
            || (peer->status && zmq_send(peer->socket, "ok", 2, ZMQ_SNDMORE) < 0)
            || zmq_msg_send(&msg, peer->socket, 0) < 0) {
            if (errno == EINTR) continue;
            peer->failed = 1;
            break;
        }
        i++;
    }
    zmq_msg_close(&msg);
    return NULL;
}

static zb_peer *start(void *ctx, int type, const char *const *endpoints, int endpoint_count, const size_t *sizes,
                      int parts, long count, int subscribers, int hwm, int status, void *(*body)(void *)) {
    if (parts < 0 || parts > ZB_MAX_PARTS) { errno = EINVAL; return NULL; }
    zb_peer *peer = calloc(1, sizeof *peer);
    if (!peer) return NULL;
    peer->socket = zmq_socket(ctx, type);
    if (!peer->socket) { free(peer); return NULL; }
    set_int(peer->socket, ZMQ_LINGER, 5000);
    set_int(peer->socket, ZMQ_SNDHWM, hwm);
    set_int(peer->socket, ZMQ_RCVHWM, hwm);
    if (type == ZMQ_XPUB) set_int(peer->socket, ZMQ_XPUB_VERBOSE, 1);
    for (int i = 0; i < endpoint_count; i++) {
        if (zmq_connect(peer->socket, endpoints[i]) != 0) {
            int saved = errno;
            zmq_close(peer->socket);
            free(peer);
            errno = saved;
            return NULL;
        }
    }
    for (int i = 0; i < parts; i++) peer->sizes[i] = sizes[i];
    peer->parts = parts;
    peer->count = count;
    peer->subscribers = subscribers;
    peer->status = status;
    if (pthread_create(&peer->thread, NULL, body, peer) != 0) {
        zmq_close(peer->socket);
        free(peer);
        return NULL;
    }
    return peer;
}

zb_peer *zb_start_sender(void *ctx, const char *const *endpoints, int endpoint_count, const size_t *sizes,
                         int parts, long count, int publish, int hwm) {
    return start(ctx, publish ? ZMQ_XPUB : ZMQ_PUSH, endpoints, endpoint_count, sizes, parts, count,
                 publish ? endpoint_count : 0, hwm, 0, sender_main);
}

zb_peer *zb_start_echo(void *ctx, const char *endpoint, long count, int status) {
    return start(ctx, ZMQ_REP, &endpoint, 1, NULL, 0, count, 0, 0, status, echo_main);
}

double zb_send_loop(void *socket, const size_t *sizes, int parts, long count) {
    if (parts < 1 || parts > ZB_MAX_PARTS) return -1;
    char *buffers[ZB_MAX_PARTS];
    for (int part = 0; part < parts; part++) {
        buffers[part] = malloc(sizes[part] ? sizes[part] : 1);
        if (!buffers[part]) {
            while (part-- > 0) free(buffers[part]);
            return -1;
        }
        memset(buffers[part], 'x', sizes[part]);
    }
    double begin = zb_now();
    int failed = 0;
    for (long i = 0; i < count && !failed; i++) {
        for (int part = 0; part < parts && !failed; part++) {
            while (zmq_send(socket, buffers[part], sizes[part], part < parts - 1 ? ZMQ_SNDMORE : 0) < 0) {
                if (errno != EINTR) { failed = 1; break; }
            }
        }
    }
    double elapsed = zb_now() - begin;
    for (int part = 0; part < parts; part++) free(buffers[part]);
    return failed ? -1 : elapsed;
}

int zb_join(zb_peer *peer) {
    pthread_join(peer->thread, NULL);
    int failed = peer->failed;
    zmq_close(peer->socket);
    free(peer);
    return failed ? -1 : 0;
}

static void *open_bound(void *ctx, int type, const char *endpoint, char *bound, size_t bound_len) {
    void *socket = zmq_socket(ctx, type);
    if (!socket) return NULL;
    set_int(socket, ZMQ_LINGER, 0);
    set_int(socket, ZMQ_RCVHWM, 0);
    set_int(socket, ZMQ_SNDHWM, 0);
    if (type == ZMQ_SUB) zmq_setsockopt(socket, ZMQ_SUBSCRIBE, "", 0);
    if (zmq_bind(socket, endpoint) != 0) {
        int saved = errno;
        zmq_close(socket);
        errno = saved;
        return NULL;
    }
    size_t len = bound_len;
    zmq_getsockopt(socket, ZMQ_LAST_ENDPOINT, bound, &len);
    return socket;
}

void *zb_open_receiver(void *ctx, const char *endpoint, int subscribe, char *bound, size_t bound_len) {
    return open_bound(ctx, subscribe ? ZMQ_SUB : ZMQ_PULL, endpoint, bound, bound_len);
}

volatile size_t zb_touched;

double zb_run_receiver(void *socket, long count) {
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    double first = 0;
    size_t touched = 0;
    for (long i = 0; i < count;) {
        if (zmq_msg_recv(&msg, socket, 0) < 0) {
            if (errno == EINTR) continue;
            zmq_msg_close(&msg);
            zmq_close(socket);
            return -1;
        }
        // What a C user reads of each part: its bytes and size (the typed handlers read every field).
        size_t size = zmq_msg_size(&msg);
        touched += size + (size ? *(const unsigned char *)zmq_msg_data(&msg) : 0);
        if (zmq_msg_more(&msg)) continue;  // the rest of this message's parts
        if (i == 0) first = zb_now();
        i++;
    }
    zb_touched = touched;
    double elapsed = zb_now() - first;
    zmq_msg_close(&msg);
    zmq_close(socket);
    return elapsed;
}

struct fan_arg {
    pthread_t thread;
    void *socket;
    long count;
    double result;
};

static void *fan_main(void *arg) {
    struct fan_arg *fan = arg;
    fan->result = zb_run_receiver(fan->socket, fan->count);
    return NULL;
}

double zb_run_receivers(void *const *sockets, int socket_count, long count) {
    struct fan_arg args[64];
    if (socket_count < 1 || socket_count > 64) return -1;
    for (int i = 0; i < socket_count; i++) {
        args[i] = (struct fan_arg){.socket = sockets[i], .count = count, .result = 0};
        pthread_create(&args[i].thread, NULL, fan_main, &args[i]);
    }
    double worst = 0;
    for (int i = 0; i < socket_count; i++) {
        pthread_join(args[i].thread, NULL);
        if (args[i].result < 0 || worst < 0) worst = -1;
        else if (args[i].result > worst) worst = args[i].result;
    }
    return worst;
}

void *zb_open_requester(void *ctx, const char *endpoint, char *bound, size_t bound_len) {
    return open_bound(ctx, ZMQ_REQ, endpoint, bound, bound_len);
}

int zb_run_requester(void *socket, size_t size, long count, double *samples) {
    char *payload = malloc(size ? size : 1);
    if (!payload) { zmq_close(socket); return -1; }
    memset(payload, 'x', size);
    zmq_msg_t reply;
    zmq_msg_init(&reply);
    int rc = 0;
    for (long i = 0; i < count && rc == 0; i++) {
        double begin = zb_now();
        if (zmq_send(socket, payload, size, 0) < 0 || zmq_msg_recv(&reply, socket, 0) < 0) rc = -1;
        samples[i] = (zb_now() - begin) * 1e6;
    }
    zmq_msg_close(&reply);
    free(payload);
    zmq_close(socket);
    return rc;
}
