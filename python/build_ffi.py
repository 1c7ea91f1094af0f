# SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
"""Writes the C source of mpkshm._mpkshm, the cffi extension module.

usage: /usr/bin/python3 build_ffi.py OUTPUT.c

cffi's API mode, out of line: the declarations below are checked against
the real <mpkshm.h> by the C compiler (structures end with "...;", so their
layout comes from the header), and python/Makefile compiles the source with
the project's compiler and warnings and links the static libmpkshm.a.
Every wrapped function releases the GIL while it runs; the serve handler
is an extern "Python" function, which takes the GIL back for Python code.
"""

import sys

import cffi

CDEF = """
const char *mpkshm_version(void);
bool mpkshm_pku_supported(void);
const char *mpkshm_strerror(int err);

typedef int... pid_t;
typedef int... uid_t;

struct mpkshm_channel;

enum mpkshm_backend {
    MPKSHM_BACKEND_KERNEL = 1,
    MPKSHM_BACKEND_MEMFD = 2,
    MPKSHM_BACKEND_THREAD = 3,
};

#define MPKSHM_OPEN_SINGLE_THREAD ...
#define MPKSHM_OPEN_CREATE ...
#define MPKSHM_OPEN_SEND_ONLY ...
#define MPKSHM_OPEN_KEEP_DUMPABLE ...
#define MPKSHM_SPIN_FOREVER ...
#define MPKSHM_RIGHT_READ ...
#define MPKSHM_RIGHT_WRITE ...
#define MPKSHM_PROT_PKU ...
#define MPKSHM_PROT_KERNEL ...
#define MPKSHM_PROT_SIGNED ...
#define MPKSHM_ROLE_MAX ...
#define MPKSHM_TO_ALL ...

struct mpkshm_options {
    size_t size;
    enum mpkshm_backend backend;
    unsigned int flags;
    unsigned int spin_us;
    size_t segment_size;
    unsigned int max_members;
    const char *secret_key_path;
    int close_timeout_ms;
    int open_timeout_ms;
    size_t max_request_size;
    int reply_timeout_ms;
    size_t max_response_size;
    const char *role;
    ...;
};

void mpkshm_options_init(struct mpkshm_options *opts);
int mpkshm_open(const char *name, const struct mpkshm_options *opts,
                struct mpkshm_channel **out);
int mpkshm_close(struct mpkshm_channel *ch);

struct mpkshm_info {
    enum mpkshm_backend backend;
    unsigned int rights;
    unsigned int protection;
    int pkey;
    unsigned int slot;
    uint64_t member_id;
    unsigned int max_members;
    size_t segment_size;
    size_t max_message;
    ...;
};
int mpkshm_info(struct mpkshm_channel *ch, struct mpkshm_info *info);
const char *mpkshm_protection_string(struct mpkshm_channel *ch);

struct mpkshm_member {
    uint64_t member_id;
    unsigned int slot;
    unsigned int rights;
    pid_t pid;
    uid_t uid;
    bool self;
    bool has_public_key;
    unsigned char public_key[32];
    char role[...];
    ...;
};
int mpkshm_members(struct mpkshm_channel *ch, struct mpkshm_member *out,
                   unsigned int room);
int mpkshm_find_peer(struct mpkshm_channel *ch, uint64_t *member_id,
                     int timeout_ms);
int mpkshm_find_member(struct mpkshm_channel *ch, const char *role,
                       uint64_t *member_id, int timeout_ms);
int mpkshm_fd(struct mpkshm_channel *ch);
int mpkshm_wait_prepare(struct mpkshm_channel *ch);
int mpkshm_wait_prepare_send(struct mpkshm_channel *ch, size_t len);

struct mpkshm_msg {
    const void *data;
    size_t len;
    uint64_t sender;
    unsigned int sender_slot;
    uint64_t seq;
    uint64_t correlation;
    ...;
};
int mpkshm_peek(struct mpkshm_channel *ch, struct mpkshm_msg *msg,
                int timeout_ms);
int mpkshm_release(struct mpkshm_channel *ch, struct mpkshm_msg *msg);
int mpkshm_send(struct mpkshm_channel *ch, uint64_t dest, const void *buf,
                size_t len, int timeout_ms);
ssize_t mpkshm_recv(struct mpkshm_channel *ch, void *buf, size_t cap,
                    struct mpkshm_msg *info, int timeout_ms);

int mpkshm_call_start(struct mpkshm_channel *ch, uint64_t server,
                      const void *req, size_t req_len, void *resp, size_t cap,
                      int timeout_ms, uint64_t *call);
int mpkshm_call_wait(struct mpkshm_channel *ch, uint64_t call,
                     size_t *resp_len, int timeout_ms);
int mpkshm_call_take(struct mpkshm_channel *ch, uint64_t call, void **resp,
                     size_t *resp_len, int timeout_ms);
int mpkshm_call_cancel(struct mpkshm_channel *ch, uint64_t call);

struct mpkshm_request {
    const void *data;
    size_t len;
    uint64_t client;
    ...;
};
typedef int (*mpkshm_handler)(void *arg, struct mpkshm_request *req);
int mpkshm_serve(struct mpkshm_channel *ch, mpkshm_handler handler,
                 void *arg);
int mpkshm_reply(struct mpkshm_channel *ch, struct mpkshm_request *req,
                 const void *data, size_t len);
void mpkshm_serve_stop(struct mpkshm_channel *ch);

/* mpkshm_call_take()'s response is the caller's to free(). */
void free(void *ptr);

/* The handler mpkshm.Channel.serve() passes to mpkshm_serve(). */
extern "Python" int _mpkshm_py_handler(void *arg, struct mpkshm_request *req);
"""


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: build_ffi.py OUTPUT.c")
    ffi = cffi.FFI()
    ffi.cdef(CDEF)
    # cffi defines the module's init function without a prototype, which
    # the project's -Wmissing-prototypes rejects: declare it first.
    ffi.set_source("mpkshm._mpkshm",
                   "#include <stdlib.h>\n#include <mpkshm.h>\n"
                   "PyMODINIT_FUNC PyInit__mpkshm(void);\n")
    ffi.emit_c_code(sys.argv[1])


if __name__ == "__main__":
    main()
