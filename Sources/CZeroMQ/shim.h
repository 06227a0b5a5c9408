// The stable libzmq 4.3 API, as the runtime uses it. No DRAFT symbols.
#ifndef ZGEN_CZEROMQ_SHIM_H
#define ZGEN_CZEROMQ_SHIM_H
#include <zmq.h>
#endif
